//! The `analyze_rl` binary on a hand-written run directory whose statistics are known, and its
//! probe mode on our own agent and on a stable-baselines3 agent (fixture made by SB3).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use infinito_rl::{Ppo, PpoConfig};
use serde_json::Value;

fn analyze_rl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_analyze_rl"))
        .args(args)
        .env("CANDLE_NUM_THREADS", "1")
        .output()
        .unwrap()
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// Eight steps, timesteps 1..=8:
/// actions  0 0 | 1 0 | 1 2 | 2 2   (TEXT 3, PHI 2, MIXED 3)
/// rewards  -1 -0.5 0 0.5 1 1.5 2 2.5   (slope 0.5 per step; halves -0.25 and 1.75)
/// phi      2 3 4 5 6 7 4 4   (band [3, 5] from env_config.json: 5 of 8 inside)
/// ppl      5 20 20 20 20 20 20 300   (band [10, 200]: 1 below, 1 above)
/// episodes end at steps 4 (return -1) and 8 (return 7);
/// evaluations at 4 and 8 with returns [1, 3] and [5, 7] (means 2 and 6).
fn synthetic_run(dir: &Path) {
    const NAMES: [&str; 3] = ["TEXT", "PHI", "MIXED"];
    let actions = [0, 0, 1, 0, 1, 2, 2, 2];
    let phi = [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 4.0, 4.0];
    let ppl = [5.0, 20.0, 20.0, 20.0, 20.0, 20.0, 20.0, 300.0];
    let mut lines = String::new();
    for i in 0..8 {
        let t = i + 1;
        let reward = -1.0 + 0.5 * i as f64;
        let mut line = serde_json::json!({
            "timestep": t, "episode": 1 + i / 4, "episode_step": 1 + i % 4,
            "action": actions[i], "mode": NAMES[actions[i]],
            "reward": reward, "phi": phi[i], "c": phi[i] / 10.0, "ppl": ppl[i],
            "loss_text": 3.0, "loss_phi": 0.5, "memory_util": 0.1, "time": 0.5 * t as f64,
        });
        if t == 4 {
            line["episode_return"] = (-1.0).into();
            line["episode_length"] = 4.into();
        }
        if t == 8 {
            line["episode_return"] = 7.0.into();
            line["episode_length"] = 4.into();
        }
        lines.push_str(&format!("{line}\n"));
    }
    std::fs::write(dir.join("metrics.jsonl"), lines).unwrap();
    std::fs::write(
        dir.join("run.json"),
        r#"{"start_timesteps": 0, "target_timesteps": 8, "start_unix": 0.0, "checkpoint_prefix": "p"}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("env_config.json"),
        r#"{"reward": {"phi_band": [3.0, 5.0]}}"#,
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("eval_logs")).unwrap();
    std::fs::write(
        dir.join("eval_logs/evaluations.json"),
        r#"{"timesteps": [4, 8], "results": [[1.0, 3.0], [5.0, 7.0]], "ep_lengths": [[4, 4], [4, 4]]}"#,
    )
    .unwrap();
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.len() > 1000,
        "{}: {} bytes",
        path.display(),
        bytes.len()
    );
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
}

#[test]
fn report_numbers_of_a_known_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path();
    synthetic_run(run);
    let report = stdout_json(&analyze_rl(&[run.to_str().unwrap(), "--json"]));

    assert_eq!(
        report["action_names"],
        serde_json::json!(["TEXT", "PHI", "MIXED"])
    );
    assert_eq!(
        floats(&report["actions"]["percent"]),
        vec![37.5, 25.0, 37.5]
    );
    let phases = report["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 4);
    let shares: Vec<Vec<f64>> = phases.iter().map(|p| floats(&p["percent"])).collect();
    assert_eq!(
        shares,
        vec![
            vec![100.0, 0.0, 0.0],
            vec![50.0, 50.0, 0.0],
            vec![0.0, 50.0, 50.0],
            vec![0.0, 0.0, 100.0]
        ]
    );
    assert_eq!(phases[2]["first_timestep"], 5);
    assert_eq!(phases[2]["last_timestep"], 6);

    let trend = &report["reward"]["trend"];
    assert!(close(trend["slope_per_1000"].as_f64().unwrap(), 500.0));
    assert!(close(trend["first_half_mean"].as_f64().unwrap(), -0.25));
    assert!(close(trend["second_half_mean"].as_f64().unwrap(), 1.75));
    assert!(close(
        report["reward"]["stats"]["mean"].as_f64().unwrap(),
        0.75
    ));

    let m = &report["metrics"];
    assert_eq!(floats(&m["phi_band"]), vec![3.0, 5.0]);
    assert!(close(m["phi_in_band_percent"].as_f64().unwrap(), 62.5));
    assert!(close(m["ppl_below_band_percent"].as_f64().unwrap(), 12.5));
    assert!(close(m["ppl_above_band_percent"].as_f64().unwrap(), 12.5));
    assert!(close(m["phi"]["max"].as_f64().unwrap(), 7.0));

    assert_eq!(report["episodes"]["count"], 2);
    assert!(close(
        report["episodes"]["returns"]["mean"].as_f64().unwrap(),
        3.0
    ));

    let e = &report["evaluations"];
    assert_eq!(e["best"]["timestep"], 8);
    assert!(close(e["best"]["mean"].as_f64().unwrap(), 6.0));
    assert_eq!(e["overfitting_warning"], false);
    assert!(close(e["half_change_percent"].as_f64().unwrap(), 200.0));
    assert_eq!(e["verdict"], "good");

    let plots: Vec<PathBuf> = report["plots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| PathBuf::from(p.as_str().unwrap()))
        .collect();
    assert_eq!(plots.len(), 4);
    for p in &plots {
        assert_eq!(p.parent().unwrap(), run.join("analysis"));
        assert_png(p);
    }
}

#[test]
fn phases_flag_text_report_and_plot_options() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    synthetic_run(&run);
    let run_arg = run.to_str().unwrap();

    let report = stdout_json(&analyze_rl(&[
        run_arg,
        "--json",
        "--phases",
        "2",
        "--no-plots",
    ]));
    let shares: Vec<Vec<f64>> = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| floats(&p["percent"]))
        .collect();
    assert_eq!(shares, vec![vec![75.0, 25.0, 0.0], vec![0.0, 25.0, 75.0]]);
    assert_eq!(report["plots"], serde_json::json!([]));
    assert!(!run.join("analysis").exists());

    let elsewhere = dir.path().join("figures");
    let out = analyze_rl(&[run_arg, "--plots", elsewhere.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for section in [
        "== run ==",
        "== actions ==",
        "== reward ==",
        "== phi / C / ppl ==",
        "== episodes ==",
        "== evaluations ==",
    ] {
        assert!(text.contains(section), "{section} missing:\n{text}");
    }
    assert!(text.contains("phase 4"), "{text}");
    assert!(text.contains("(rising)"), "{text}");
    for name in ["reward.png", "phi_c.png", "ppl.png", "actions.png"] {
        assert_png(&elsewhere.join(name));
    }
}

#[test]
fn missing_run_or_metrics_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let out = analyze_rl(&[missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no such run directory"), "{err}");

    let out = analyze_rl(&[dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("metrics.jsonl"), "{err}");
}

fn probe_lines(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn probe_prints_the_policy_of_our_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Ppo::new(6, 3, PpoConfig::default(), 1).unwrap();
    agent.save(&dir.path().join("agent.safetensors")).unwrap();
    let observations: Vec<Vec<f32>> = vec![
        vec![0.5, 1.0, 3.2, 0.7, 0.1, 0.25],
        vec![-2.0, 0.0, 1e-3, 4.5, -0.75, 1.0],
        vec![10.0, -10.0, 0.0, 0.0, 3.0, -1.5],
    ];
    let obs_file = dir.path().join("obs.jsonl");
    let text: String = observations
        .iter()
        .map(|o| serde_json::to_string(o).unwrap() + "\n\n")
        .collect();
    std::fs::write(&obs_file, text).unwrap();
    let out = analyze_rl(&[
        "--checkpoint",
        dir.path().to_str().unwrap(),
        "--probe",
        obs_file.to_str().unwrap(),
        "--json",
    ]);
    let lines = probe_lines(&out);
    assert_eq!(lines.len(), 3);
    for (line, obs) in lines.iter().zip(&observations) {
        let got: Vec<f32> = floats(&line["obs"]).iter().map(|&x| x as f32).collect();
        assert_eq!(&got, obs);
        let probs: Vec<f32> = floats(&line["probs"]).iter().map(|&x| x as f32).collect();
        assert_eq!(probs, agent.action_probs(obs).unwrap());
        assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(
            line["value"].as_f64().unwrap() as f32,
            agent.value(obs).unwrap()
        );
        assert_eq!(
            line["action"].as_u64().unwrap() as usize,
            agent.predict(obs, true).unwrap()
        );
    }
}

#[test]
fn probe_of_a_stable_baselines3_zip_matches_sb3() {
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/infinito-rl/tests/fixtures");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("sb3_expected.json")).unwrap())
            .unwrap();
    let want = &expected["sb3_small"];
    let dir = tempfile::tempdir().unwrap();
    let obs_file = dir.path().join("obs.jsonl");
    let text: String = want["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| format!("{o}\n"))
        .collect();
    std::fs::write(&obs_file, text).unwrap();
    let out = analyze_rl(&[
        "--checkpoint",
        fixtures.join("sb3_small.zip").to_str().unwrap(),
        "--probe",
        obs_file.to_str().unwrap(),
    ]);
    let lines = probe_lines(&out);
    assert_eq!(lines.len(), want["observations"].as_array().unwrap().len());
    for (i, line) in lines.iter().enumerate() {
        for (p, e) in floats(&line["probs"]).iter().zip(floats(&want["probs"][i])) {
            assert!((p - e).abs() < 1e-5, "obs {i}: prob {p} vs SB3 {e}");
        }
        let (v, e) = (
            line["value"].as_f64().unwrap(),
            want["values"][i].as_f64().unwrap(),
        );
        assert!(
            (v - e).abs() < 1e-5 * (1.0 + e.abs()),
            "obs {i}: value {v} vs SB3 {e}"
        );
        assert_eq!(line["action"], want["deterministic_actions"][i], "obs {i}");
    }
}

#[test]
fn bad_probe_line_names_its_number() {
    let dir = tempfile::tempdir().unwrap();
    Ppo::new(6, 3, PpoConfig::default(), 1)
        .unwrap()
        .save(&dir.path().join("agent.safetensors"))
        .unwrap();
    let obs_file = dir.path().join("obs.jsonl");
    std::fs::write(&obs_file, "[0, 0, 0, 0, 0, 0]\n\n[0, 0, oops]\n").unwrap();
    let out = analyze_rl(&[
        "--checkpoint",
        dir.path().to_str().unwrap(),
        "--probe",
        obs_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn a_folder_of_the_original_is_analysed_from_its_sb3_files() {
    let run =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/infinito-rl/tests/fixtures/sb3_run");
    let out = analyze_rl(&[run.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["num_timesteps"], 96);
    let means: Vec<f64> = json["evaluations"]["evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["returns"]["mean"].as_f64().unwrap())
        .collect();
    let want = [10.0 / 3.0, 13.0 / 3.0, 11.0 / 3.0];
    for (m, w) in means.iter().zip(want) {
        assert!((m - w).abs() < 1e-12, "{means:?}");
    }
    assert!(json["newest"]["path"]
        .as_str()
        .unwrap()
        .ends_with("ppo_infinito_scheduler_final.zip"));
    let text = analyze_rl(&[run.to_str().unwrap()]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("probe typical"), "{text}");
    assert!(text.contains("== evaluations =="), "{text}");
}
