//! The `check_progress` binary on hand-written run directories whose numbers are known.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn check_progress(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_check_progress"))
        .args(args)
        .env("CANDLE_NUM_THREADS", "1")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A session from counter 100 to 200: one step of an earlier session (action 2, reward 9), then
/// 40 steps in 10 s with actions alternating 1, 0 and rewards 1..=40; checkpoints at 120 and
/// 130; evaluations with means 1, 3, 2.
fn running_run(dir: &Path) {
    std::fs::write(
        dir.join("run.json"),
        r#"{"start_timesteps": 100, "target_timesteps": 200, "start_unix": 0.0, "checkpoint_prefix": "p"}"#,
    )
    .unwrap();
    let mut lines = String::new();
    let mut push = |t: u64, action: usize, reward: f64, time: f64| {
        let line = serde_json::json!({
            "timestep": t, "episode": 1, "action": action, "mode": "", "reward": reward,
            "phi": 4.0, "c": 0.4, "ppl": 50.0, "loss_text": 3.0, "time": time,
        });
        lines.push_str(&format!("{line}\n"));
    };
    push(100, 2, 9.0, 700.0);
    for i in 1..=40u64 {
        push(100 + i, (i % 2) as usize, i as f64, i as f64 / 4.0);
    }
    std::fs::write(dir.join("metrics.jsonl"), lines).unwrap();
    for name in ["p_120_steps", "p_130_steps"] {
        std::fs::create_dir_all(dir.join("checkpoints").join(name)).unwrap();
    }
    std::fs::create_dir_all(dir.join("eval_logs")).unwrap();
    std::fs::write(
        dir.join("eval_logs/evaluations.json"),
        r#"{"timesteps": [110, 120, 130], "results": [[1.0], [3.0], [2.0]], "ep_lengths": [[8], [8], [8]]}"#,
    )
    .unwrap();
}

#[test]
fn live_numbers_of_a_running_session() {
    let dir = tempfile::tempdir().unwrap();
    running_run(dir.path());
    let run = dir.path().to_str().unwrap();
    let p: Value =
        serde_json::from_str(&stdout(&check_progress(&[run, "--json", "--recent", "2"]))).unwrap();
    assert_eq!(p["done"], 40);
    assert_eq!(p["total"], 100);
    assert_eq!(p["percent"], 40.0);
    assert_eq!(p["elapsed_seconds"], 10.0);
    assert_eq!(p["rate"], 4.0);
    assert_eq!(p["eta_seconds"], 15.0);
    assert_eq!(p["last_checkpoint"]["name"], "p_130_steps");
    assert_eq!(p["recent_mean_reward"], 39.5);
    let overall = p["overall_mean_reward"].as_f64().unwrap();
    assert!((overall - (9.0 + 820.0) / 41.0).abs() < 1e-9);
    assert_eq!(p["actions"]["counts"], serde_json::json!([20, 20, 1]));
    let changes: Vec<Value> = p["evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["change"].clone())
        .collect();
    assert_eq!(changes, vec![Value::Null, 2.0.into(), (-1.0).into()]);
    assert_eq!(p["finished"], false);

    let text = stdout(&check_progress(&[run]));
    assert!(text.contains("state       running"), "{text}");
    assert!(
        text.contains(" 40.0% | 40/100 steps (counter 140)"),
        "{text}"
    );
    assert!(text.contains("ETA 0:00:15"), "{text}");
    assert!(text.contains("checkpoint  p_130_steps"), "{text}");
    assert!(text.contains("(+2.0000)  ✅"), "{text}");
    assert!(text.contains("(-1.0000)  ❌"), "{text}");
}

#[test]
fn finished_session_ends_the_watch() {
    let dir = tempfile::tempdir().unwrap();
    running_run(dir.path());
    std::fs::write(dir.path().join("training_stats.json"), "{}").unwrap();
    let run = dir.path().to_str().unwrap();
    let p: Value = serde_json::from_str(&stdout(&check_progress(&[run, "--json"]))).unwrap();
    assert_eq!(p["finished"], true);
    let text = stdout(&check_progress(&[run, "--watch", "1"]));
    assert!(text.starts_with("\x1b[2J\x1b[H"), "{text:?}");
    assert!(text.contains("state       finished"), "{text}");
}

#[test]
fn empty_and_missing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().to_str().unwrap();
    let out = check_progress(&[run]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not a scheduler run"), "{err}");
    std::fs::write(
        dir.path().join("run.json"),
        r#"{"start_timesteps": 0, "target_timesteps": 64, "start_unix": 0.0, "checkpoint_prefix": "p"}"#,
    )
    .unwrap();
    assert!(stdout(&check_progress(&[run])).contains("no steps logged yet"));
    std::fs::write(dir.path().join("metrics.jsonl"), "").unwrap();
    assert_eq!(stdout(&check_progress(&[run, "--json"])).trim(), "null");

    let missing = dir.path().join("nope");
    let out = check_progress(&[missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no such run directory"), "{err}");
}

/// The run folder that stable-baselines3's callbacks wrote (tools/refgen/sb3_run_ref.py).
fn sb3_run() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/infinito-rl/tests/fixtures/sb3_run")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn a_folder_of_the_original_shows_its_sb3_files() {
    let text = stdout(&check_progress(&[&sb3_run()]));
    assert!(text.contains("stable-baselines3 run folder"), "{text}");
    assert!(text.contains("steps       96"), "{text}");
    assert!(text.contains("checkpoints 3 (32, 64, 96)"), "{text}");
    assert!(text.contains("best model"), "{text}");
    let json: Value =
        serde_json::from_str(&stdout(&check_progress(&[&sb3_run(), "--json"]))).unwrap();
    assert_eq!(json["format"], "stable-baselines3");
    assert_eq!(json["evaluations"]["best"]["timestep"], 64);
    assert_eq!(json["best_model"]["probes"].as_array().unwrap().len(), 3);
}
