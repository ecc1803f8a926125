//! The `train_base_more` binary end to end on tiny settings of the built-in model.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use candle_core::{Device, Tensor};

/// Flags that keep a run to a few seconds: built-in model and corpus, a small memory.
const TINY: &[&str] = &["--memory-slots", "8", "--lr", "1e-3"];
/// Short windows and batches for runs that count steps.
const SHORT: [&str; 4] = ["--seq-len", "16", "--batch-size", "4"];

fn command(output: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_train_base_more"));
    // Tests run binaries side by side: one compute thread each avoids oversubscribing the cores.
    cmd.env("CANDLE_NUM_THREADS", "1");
    cmd.args(TINY).arg("--output").arg(output).args(extra);
    cmd
}

fn run(output: &Path, extra: &[&str]) -> Output {
    command(output, extra).output().unwrap()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn checkpoint(output: &Path, name: &str) -> PathBuf {
    output
        .join("checkpoints")
        .join(format!("{name}.safetensors"))
}

fn model_tensors(path: &Path) -> Vec<(String, Vec<f32>)> {
    let tensors = infinito_checkpoint::load_tensors(path, None, &Device::Cpu).unwrap();
    let mut out: Vec<(String, Vec<f32>)> = tensors
        .into_iter()
        .filter(|(k, _)| k.starts_with("model."))
        .map(|(k, v): (String, Tensor)| {
            let v = v
                .to_dtype(candle_core::DType::F32)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            (k, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn resuming_from_last_continues_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (straight, split) = (dir.path().join("straight"), dir.path().join("split"));
    assert_ok(&run(
        &straight,
        &[&SHORT[..], &["--max-steps", "6"]].concat(),
    ));
    assert_ok(&run(&split, &[&SHORT[..], &["--max-steps", "3"]].concat()));
    let last = checkpoint(&split, "last");
    let resume = [
        &SHORT[..],
        &["--max-steps", "6", "--checkpoint", last.to_str().unwrap()],
    ]
    .concat();
    assert_ok(&run(&split, &resume));
    let (a, b) = (
        model_tensors(&checkpoint(&straight, "last")),
        model_tensors(&last),
    );
    assert!(!a.is_empty());
    assert_eq!(a, b, "6 steps straight equal 3 + resume + 3, bit for bit");
    let mem = a
        .iter()
        .find(|(k, _)| k == "model.memory.write_count")
        .unwrap();
    assert!(mem.1[0] > 0.0, "training wrote to the memory");

    // The checkpoint scores text with the hybrid, PHI included.
    let out = Command::new(env!("CARGO_BIN_EXE_perplexity"))
        .env("CANDLE_NUM_THREADS", "1")
        .args([
            "--model",
            last.to_str().unwrap(),
            "--text",
            "The memory keeps what PHI rates highly.",
            "--json",
        ])
        .output()
        .unwrap();
    assert_ok(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let phi = report["phi"]["phi_estimate"][0].as_f64().unwrap();
    // It is the hybrid's PHI of those tokens, as the library computes it from the checkpoint.
    let ids: Vec<u32> = report["token_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    let (mut hybrid, _) = infinito_train::setup::load_for_eval(&last, &Device::Cpu).unwrap();
    let input = Tensor::new(ids.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let want: Vec<f32> = hybrid
        .forward(&input, infinito_model::Mode::Eval)
        .unwrap()
        .phi
        .phi_estimate
        .to_vec1()
        .unwrap();
    assert!((phi - f64::from(want[0])).abs() < 1e-5, "{phi} vs {want:?}");
    assert!(report["perplexity"].as_f64().unwrap().is_finite());
}

/// Every step's record splits its time: forward, backward, optimizer, and the forward's GPT-2,
/// memory and PHI parts, which add up to at most the forward; the log ends with the profile.
#[test]
fn metrics_split_each_step_into_timed_phases() {
    let dir = tempfile::tempdir().unwrap();
    assert_ok(&run(
        dir.path(),
        &[&SHORT[..], &["--max-steps", "2"]].concat(),
    ));
    let text = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    let steps: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &serde_json::Value| r["split"] == "train")
        .collect();
    assert_eq!(steps.len(), 2);
    for record in &steps {
        let secs = |key: &str| {
            record[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{key} missing in {record}"))
        };
        let parts: Vec<f64> = ["gpt2", "memory", "phi"]
            .iter()
            .map(|p| secs(&format!("t_forward_{p}")))
            .collect();
        assert!(parts.iter().all(|&t| t > 0.0), "{record}");
        assert!(parts.iter().sum::<f64>() <= secs("t_forward"), "{record}");
        assert!(
            secs("t_backward") > 0.0 && secs("t_optimizer") > 0.0,
            "{record}"
        );
    }
    let log = std::fs::read_to_string(dir.path().join(infinito_train::TEXT_LOG_FILE)).unwrap();
    let profile = log
        .lines()
        .find(|l| l.starts_with("profile: 2 steps"))
        .unwrap_or_else(|| panic!("no profile line in {log}"));
    assert!(profile.contains("(of which gpt2"), "{profile}");
}

#[test]
fn ctrl_c_saves_a_checkpoint_that_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("run");
    let child = command(&out_dir, &[&SHORT[..], &["--epochs", "50"]].concat())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let metrics = out_dir.join("metrics.jsonl");
    common::interrupt_after_lines(&child, &metrics, 2);
    let out = child.wait_with_output().unwrap();
    assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--checkpoint"),
        "says how to resume: {stderr}"
    );
    let last = checkpoint(&out_dir, "last");
    assert!(last.is_file());
    let steps = std::fs::read_to_string(&metrics).unwrap().lines().count();
    let until = (steps + 2).to_string();
    let resume = [
        &SHORT[..],
        &[
            "--epochs",
            "50",
            "--max-steps",
            &until,
            "--checkpoint",
            last.to_str().unwrap(),
        ],
    ]
    .concat();
    let resumed = run(&out_dir, &resume);
    assert_ok(&resumed);
    assert!(String::from_utf8_lossy(&resumed.stderr).contains("resuming from"));
}

#[test]
fn bad_flags_and_files_give_one_line_errors_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    for (args, needle) in [
        (vec!["--batch-size", "0"], "--batch-size"),
        (vec!["--lr", "-1"], "--lr"),
        (vec!["--data", "/nonexistent/corpus"], "/nonexistent/corpus"),
        (vec!["--phi-grad", "sideways"], "--phi-grad"),
    ] {
        let o = run(&out, &args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let truncated = dir.path().join("truncated.safetensors");
    std::fs::write(&truncated, b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":").unwrap();
    let o = run(&out, &["--checkpoint", truncated.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("truncated.safetensors") && err.trim().lines().count() == 1,
        "{err}"
    );
}

#[test]
fn validation_loss_falls_on_wikitext2() {
    let Some(shared) = infinito_testutil::shared_data("wikitext-2") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = common::wikitext_head(&shared, dir.path(), 200, 60);
    let out_dir = dir.path().join("run");
    let out = run(
        &out_dir,
        &[
            "--data",
            data.to_str().unwrap(),
            "--epochs",
            "2",
            "--seq-len",
            "32",
            "--batch-size",
            "8",
        ],
    );
    assert_ok(&out);
    let history: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("history.json")).unwrap())
            .unwrap();
    let val: Vec<f64> = serde_json::from_value(history["val_loss"].clone()).unwrap();
    assert_eq!(val.len(), 2);
    assert!(val[1] < val[0], "validation loss falls: {val:?}");
}
