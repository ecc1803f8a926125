//! `train_phi_text_scheduler` and `continue_training_rl` end to end on tiny settings of the
//! built-in model: the run directory, Ctrl+C, continuation of counters, SB3 agents, bad input.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Tiny PPO rollouts so that a run takes seconds.
const PPO: &[&str] = &[
    "--n-steps",
    "32",
    "--ppo-batch-size",
    "16",
    "--n-epochs",
    "2",
];

/// An environment config with one inner step of 2 short windows, episodes of 8 decisions.
fn env_config(dir: &Path) -> PathBuf {
    let path = dir.join("env.toml");
    std::fs::write(
        &path,
        "inner_steps = 1\nmax_steps = 8\nbatch_size = 2\n[model]\nseq_len = 32\nmemory_slots = 8\nlr = 1e-3\n",
    )
    .unwrap();
    path
}

fn command(bin: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    // Tests run binaries side by side: one compute thread each avoids oversubscribing the cores.
    cmd.env("CANDLE_NUM_THREADS", "1").arg("--quiet").args(args);
    cmd
}

fn train(args: &[&str]) -> Output {
    command(
        env!("CARGO_BIN_EXE_train_phi_text_scheduler"),
        &[PPO, args].concat(),
    )
    .output()
    .unwrap()
}

fn continue_rl(args: &[&str]) -> Output {
    command(env!("CARGO_BIN_EXE_continue_training_rl"), args)
        .output()
        .unwrap()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn metrics(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn is_checkpoint(dir: &Path) -> bool {
    ["agent.safetensors", "model.safetensors", "env_config.json"]
        .iter()
        .all(|f| dir.join(f).is_file())
}

#[test]
fn a_run_writes_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = env_config(dir.path());
    let run = dir.path().join("run");
    let out = train(&[
        "--config",
        config.to_str().unwrap(),
        "--timesteps",
        "64",
        "--save-freq",
        "32",
        "--eval-freq",
        "32",
        "--n-eval-episodes",
        "2",
        "--output",
        run.to_str().unwrap(),
    ]);
    assert_ok(&out);
    for n in [32, 64] {
        let ckpt = run.join(format!("checkpoints/ppo_infinito_scheduler_{n}_steps"));
        assert!(is_checkpoint(&ckpt), "{}", ckpt.display());
    }
    assert!(is_checkpoint(&run.join("best_model")));
    assert!(is_checkpoint(&run.join("ppo_infinito_scheduler_final")));
    let env: serde_json::Value = json(&run.join("env_config.json"));
    assert_eq!(env["max_steps"], 8);
    let evals = json(&run.join("eval_logs/evaluations.json"));
    assert_eq!(evals["timesteps"], serde_json::json!([32, 64]));
    assert_eq!(evals["ep_lengths"], serde_json::json!([[8, 8], [8, 8]]));
    let csv = std::fs::read_to_string(run.join("eval_logs/evaluations.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 4);
    let steps = metrics(&run);
    assert_eq!(steps.len(), 64, "one record per environment step");
    assert_eq!(steps[63]["timestep"], 64);
    for key in [
        "reward",
        "phi",
        "c",
        "ppl",
        "loss_text",
        "loss_phi",
        "r_phi_band",
        "mode",
    ] {
        assert!(steps[0].get(key).is_some(), "{key} missing");
    }
    let ended: Vec<_> = steps
        .iter()
        .filter(|s| s.get("episode_return").is_some())
        .collect();
    assert_eq!(ended.len(), 8, "every episode end is logged");
    let stats = json(&run.join("training_stats.json"));
    assert_eq!(stats["total_timesteps"], 64);
    assert_eq!(stats["outcome"], "completed");
    assert_eq!(stats["ppo_config"]["n_steps"], 32);
    let shares: f64 = ["TEXT", "PHI", "MIXED"]
        .iter()
        .map(|a| stats["actions"][a].as_f64().unwrap())
        .sum();
    assert!((shares - 100.0).abs() < 1e-9);
    // The scheduled model is what generation and perplexity read.
    let final_model = run.join("ppo_infinito_scheduler_final/model.safetensors");
    let meta = infinito_checkpoint::read_metadata(&final_model)
        .unwrap()
        .unwrap();
    assert_eq!(meta["format"], "infinito.trainer.v1");
    tensorboard_matches_the_logs(&run, &steps);
}

/// The TensorBoard scalars of a run: tag -> [(step, value)].
/// A `--ppo-config` file sets the PPO settings; a PPO flag overrides it only when given.
#[test]
fn ppo_config_files_are_overridden_only_by_flags_given() {
    let dir = tempfile::tempdir().unwrap();
    let ppo = dir.path().join("ppo.toml");
    std::fs::write(&ppo, "n_steps = 16\nbatch_size = 8\ngamma = 0.9\n").unwrap();
    let run = dir.path().join("run");
    let config = env_config(dir.path());
    let out = command(
        env!("CARGO_BIN_EXE_train_phi_text_scheduler"),
        &[
            "--config",
            config.to_str().unwrap(),
            "--ppo-config",
            ppo.to_str().unwrap(),
            "--n-epochs",
            "1",
            "--timesteps",
            "16",
            "--save-freq",
            "0",
            "--eval-freq",
            "0",
            "--output",
            run.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert_ok(&out);
    let stats = json(&run.join("training_stats.json"));
    let ppo = &stats["ppo_config"];
    assert_eq!(
        (
            &ppo["n_steps"],
            &ppo["batch_size"],
            &ppo["gamma"],
            &ppo["n_epochs"]
        ),
        (
            &serde_json::json!(16),
            &serde_json::json!(8),
            &serde_json::json!(0.9),
            &serde_json::json!(1)
        ),
        "{ppo}"
    );
}

fn tensorboard(run: &Path) -> BTreeMap<String, Vec<(i64, f32)>> {
    let dir = run.join("tensorboard");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "one event file per session");
    let mut series: BTreeMap<String, Vec<(i64, f32)>> = BTreeMap::new();
    for event in infinito_train::tensorboard::read_events(&files[0]).unwrap() {
        for v in event.summary.map(|s| s.value).unwrap_or_default() {
            let value = v.simple_value.unwrap();
            series.entry(v.tag).or_default().push((event.step, value));
        }
    }
    series
}

/// SB3's tags hold the numbers of `updates.jsonl`, `metrics.jsonl` and the evaluations.
fn tensorboard_matches_the_logs(run: &Path, steps: &[serde_json::Value]) {
    let series = tensorboard(run);
    for tag in [
        "rollout/ep_rew_mean",
        "rollout/ep_len_mean",
        "train/approx_kl",
        "train/clip_fraction",
        "train/entropy_loss",
        "train/policy_gradient_loss",
        "train/value_loss",
        "train/explained_variance",
        "train/learning_rate",
        "train/loss",
        "time/fps",
        "eval/mean_reward",
        "infinito/phi",
        "infinito/c",
        "infinito/perplexity",
        "infinito/action_share/TEXT",
        "infinito/reward/phi_band",
    ] {
        assert!(series.contains_key(tag), "{tag} missing");
    }
    let updates: Vec<serde_json::Value> = std::fs::read_to_string(run.join("updates.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (tag, key) in [
        ("train/approx_kl", "approx_kl"),
        ("train/value_loss", "value_loss"),
        ("train/learning_rate", "learning_rate"),
    ] {
        let want: Vec<(i64, f32)> = updates
            .iter()
            .map(|u| {
                (
                    u["num_timesteps"].as_i64().unwrap(),
                    u[key].as_f64().unwrap() as f32,
                )
            })
            .collect();
        assert_eq!(series[tag], want, "{tag}");
    }
    // Episodes end every 8 steps: by step 32 four have ended, by 64 eight.
    let returns: Vec<f64> = steps
        .iter()
        .filter_map(|s| s["episode_return"].as_f64())
        .collect();
    let mean = |r: &[f64]| (r.iter().sum::<f64>() / r.len() as f64) as f32;
    assert_eq!(
        series["rollout/ep_rew_mean"],
        vec![(32, mean(&returns[..4])), (64, mean(&returns))]
    );
    assert_eq!(series["rollout/ep_len_mean"], vec![(32, 8.0), (64, 8.0)]);
    let phi: Vec<(i64, f32)> = steps
        .iter()
        .map(|s| {
            (
                s["timestep"].as_i64().unwrap(),
                s["phi"].as_f64().unwrap() as f32,
            )
        })
        .collect();
    assert_eq!(series["infinito/phi"], phi);
    let shares: f32 = ["TEXT", "PHI", "MIXED"]
        .iter()
        .map(|a| series[&format!("infinito/action_share/{a}")][0].1)
        .sum();
    assert!((shares - 100.0).abs() < 1e-3);
    assert_eq!(series["eval/mean_reward"].len(), 2);
}

#[test]
fn ctrl_c_leaves_an_interrupted_checkpoint_that_continues_the_counter() {
    let dir = tempfile::tempdir().unwrap();
    let config = env_config(dir.path());
    let run = dir.path().join("run");
    let child = command(
        env!("CARGO_BIN_EXE_train_phi_text_scheduler"),
        &[
            PPO,
            &[
                "--config",
                config.to_str().unwrap(),
                "--timesteps",
                "100000",
                "--output",
                run.to_str().unwrap(),
            ],
        ]
        .concat(),
    )
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    let log = run.join("metrics.jsonl");
    common::interrupt_after_lines(&child, &log, 40);
    let out = child.wait_with_output().unwrap();
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("continue_training_rl --checkpoint"));
    let interrupted = run.join("ppo_infinito_scheduler_interrupted");
    assert!(is_checkpoint(&interrupted));
    let stats = json(&run.join("training_stats.json"));
    assert_eq!(stats["outcome"], "interrupted");
    let done = stats["total_timesteps"].as_u64().unwrap();
    assert!(done >= 40);

    let more = dir.path().join("more");
    let out = continue_rl(&[
        "--checkpoint",
        interrupted.to_str().unwrap(),
        "--timesteps",
        "32",
        "--save-freq",
        "16",
        "--eval-freq",
        "0",
        "--output",
        more.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("environment model: continued from"),
        "{stderr}"
    );
    let run_info = json(&more.join("run.json"));
    assert_eq!(run_info["start_timesteps"].as_u64(), Some(done));
    assert!(more
        .join(format!(
            "checkpoints/ppo_infinito_continued_{}_steps",
            done + 16
        ))
        .is_dir());
    assert_eq!(
        json(&more.join("training_stats.json"))["total_timesteps"],
        done + 32
    );
    assert_eq!(metrics(&more)[0]["timestep"], done + 1);
}

#[test]
fn stable_baselines3_agents_continue_from_their_counter() {
    let zip = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/infinito-rl/tests/fixtures/sb3_small.zip");
    let dir = tempfile::tempdir().unwrap();
    let config = env_config(dir.path());
    let out_dir = dir.path().join("cont");
    let out = continue_rl(&[
        "--checkpoint",
        zip.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--timesteps",
        "16",
        "--save-freq",
        "0",
        "--eval-freq",
        "0",
        "--clip-range",
        "0.15",
        "--output",
        out_dir.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the checkpoint has none"), "{stderr}");
    let stats = json(&out_dir.join("training_stats.json"));
    // SB3 runs whole rollouts: its n_steps (64) from the saved counter (128).
    assert_eq!(stats["start_timesteps"], 128);
    assert_eq!(stats["total_timesteps"], 192);
    assert_eq!(stats["ppo_config"]["clip_range"], 0.15);
}

#[test]
fn bad_input_gives_one_line_errors_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = env_config(dir.path());
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("run.json"), "{}").unwrap();
    let cases: Vec<(Output, &str)> = vec![
        (
            train(&[
                "--config",
                config.to_str().unwrap(),
                "--output",
                run.to_str().unwrap(),
            ]),
            "--overwrite",
        ),
        (
            train(&[
                "--timesteps",
                "0",
                "--output",
                dir.path().join("x").to_str().unwrap(),
            ]),
            "--timesteps 0",
        ),
        (train(&["--inner-steps", "0"]), "--inner-steps 0"),
        (
            continue_rl(&["--checkpoint", dir.path().join("none").to_str().unwrap()]),
            "none",
        ),
        (
            continue_rl(&["--checkpoint", run.to_str().unwrap()]),
            "no scheduler checkpoint",
        ),
    ];
    for (out, needle) in cases {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
}

/// On WikiText-2 (when `../shared` is present): a short run, with the action distribution it
/// measured printed for the record.
#[test]
fn short_run_on_wikitext2() {
    let Some(shared) = infinito_testutil::shared_data("wikitext-2") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = common::wikitext_head(&shared, dir.path(), 400, 60);
    let config = env_config(dir.path());
    let run = dir.path().join("run");
    let out = train(&[
        "--config",
        config.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--timesteps",
        "256",
        "--save-freq",
        "128",
        "--eval-freq",
        "128",
        "--n-eval-episodes",
        "1",
        "--output",
        run.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let stats = json(&run.join("training_stats.json"));
    assert_eq!(stats["total_timesteps"], 256);
    eprintln!(
        "actions: {}, mean reward {}",
        stats["actions"], stats["mean_reward"]
    );
    assert!(is_checkpoint(
        &run.join("checkpoints/ppo_infinito_scheduler_256_steps")
    ));
}

/// The PPO settings of every update of a run (`updates.jsonl`).
fn updates(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("updates.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `continue_training_rl` uses the original's fine-tuning settings unless told otherwise, each
/// flag overrides them, `--keep-settings` keeps the checkpoint's own, and `--n-steps` sets the
/// rollout; `updates.jsonl` shows what each update used.
#[test]
fn continue_uses_the_fine_tuning_settings_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let config = env_config(dir.path());
    let run = dir.path().join("run");
    assert_ok(&train(&[
        "--config",
        config.to_str().unwrap(),
        "--timesteps",
        "32",
        "--save-freq",
        "0",
        "--eval-freq",
        "0",
        "--output",
        run.to_str().unwrap(),
    ]));
    let agent = run.join("ppo_infinito_scheduler_final");
    let more = |name: &str, extra: &[&str]| {
        let out_dir = dir.path().join(name);
        let out = continue_rl(
            &[
                &[
                    "--checkpoint",
                    agent.to_str().unwrap(),
                    "--save-freq",
                    "0",
                    "--eval-freq",
                    "0",
                    "--output",
                    out_dir.to_str().unwrap(),
                ],
                extra,
            ]
            .concat(),
        );
        assert_ok(&out);
        (
            updates(&out_dir),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let used = |u: &serde_json::Value| {
        [
            u["learning_rate"].as_f64().unwrap(),
            u["clip_range"].as_f64().unwrap(),
            u["ent_coef"].as_f64().unwrap(),
            u["max_grad_norm"].as_f64().unwrap(),
            u["n_steps"].as_f64().unwrap(),
        ]
    };
    // 20 steps with a rollout of 16: two whole rollouts, and a note saying so.
    let (ups, stderr) = more("default", &["--timesteps", "20", "--n-steps", "16"]);
    assert_eq!(ups.len(), 2);
    assert!(
        ups.iter().all(|u| used(u) == [1e-4, 0.15, 0.02, 0.3, 16.0]),
        "{ups:?}"
    );
    assert!(
        stderr.contains("lr 0.0001, clip range 0.15, entropy coef 0.02, max grad norm 0.3"),
        "{stderr}"
    );
    assert!(stderr.contains("--timesteps 20 runs 32 steps"), "{stderr}");
    let (ups, _) = more(
        "flags",
        &[
            "--timesteps",
            "32",
            "--lr",
            "5e-4",
            "--entropy-coef",
            "0.05",
        ],
    );
    assert!(
        ups.iter().all(|u| used(u) == [5e-4, 0.15, 0.05, 0.3, 32.0]),
        "{ups:?}"
    );
    // The agent was trained with lr 3e-4, clip 0.2, entropy 0.01 and max-grad-norm 0.5.
    let (ups, stderr) = more(
        "kept",
        &[
            "--timesteps",
            "32",
            "--keep-settings",
            "--clip-range",
            "0.1",
        ],
    );
    assert!(
        ups.iter().all(|u| used(u) == [3e-4, 0.1, 0.01, 0.5, 32.0]),
        "{ups:?}"
    );
    assert!(!stderr.contains("runs 32 steps"), "{stderr}");
}
