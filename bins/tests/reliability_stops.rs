//! Hard stops of `train_base_more`: kill -9 at seeded random moments while it writes a
//! checkpoint every step, and Ctrl+C / SIGTERM. After each stop every checkpoint must load, the
//! run must resume, and the next start must leave no temporary files behind.
//!
//! `INFINITO_KILL_TRIALS=N` sets the number of kill -9 trials (10 by default; the longer run
//! recorded in docs/reliability.md uses 50).

mod reliability;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use candle_core::Device;
use reliability::Rng;

/// A short run that writes `checkpoints/step-N` and `last` after every step.
const RUN: &[&str] = &[
    "--memory-slots",
    "8",
    "--lr",
    "1e-3",
    "--seq-len",
    "16",
    "--batch-size",
    "4",
    "--save-every",
    "1",
    "--keep-checkpoints",
    "3",
];

fn start(output: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_train_base_more"))
        .env("CANDLE_NUM_THREADS", "1")
        .args(RUN)
        .arg("--output")
        .arg(output)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the run has logged at least `lines` metrics records (at most 120 s).
fn wait_for_steps(output: &Path, lines: usize) {
    let metrics = output.join("metrics.jsonl");
    let begin = Instant::now();
    while std::fs::read_to_string(&metrics).map_or(0, |t| t.lines().count()) < lines {
        assert!(
            begin.elapsed() < Duration::from_secs(120),
            "training never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, name: &str) {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args([name, &pid])
        .status()
        .unwrap()
        .success());
}

/// Temporary files and staging directories of our writers in `dir` and its checkpoints.
fn leftovers(output: &Path) -> Vec<PathBuf> {
    [output.to_path_buf(), output.join("checkpoints")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.starts_with('.') && (name.contains(".tmp-") || name.contains(".old-"))
        })
        .collect()
}

/// The checkpoints of a run that do not load.
fn corrupt_checkpoints(output: &Path) -> Vec<String> {
    std::fs::read_dir(output.join("checkpoints"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .filter_map(|p| {
            infinito_checkpoint::load_tensors(&p, None, &Device::Cpu)
                .err()
                .map(|e| e.to_string())
        })
        .collect()
}

/// Resumes a stopped run for two more steps (or starts it afresh when it was stopped before
/// its first checkpoint); returns the exit status and stderr.
fn resume(output: &Path) -> (bool, String) {
    let last = output.join("checkpoints/last.safetensors");
    let child = if last.exists() {
        let steps =
            std::fs::read_to_string(output.join("metrics.jsonl")).map_or(0, |t| t.lines().count());
        let max = (steps + 2).to_string();
        start(
            output,
            &["--checkpoint", last.to_str().unwrap(), "--max-steps", &max],
        )
    } else {
        start(output, &["--max-steps", "2", "--overwrite"])
    };
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[derive(Default, Debug)]
struct Tally {
    trials: usize,
    corrupt: usize,
    failed_resumes: usize,
    leftovers_before_resume: usize,
    leftovers_after_resume: usize,
}

#[test]
fn kill_9_during_checkpoint_writes_loses_nothing() {
    let trials: usize = std::env::var("INFINITO_KILL_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let mut rng = Rng::new(2024);
    let mut tally = Tally::default();
    let mut problems = Vec::new();
    for trial in 0..trials {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("run");
        let mut child = start(&output, &["--max-steps", "1000"]);
        wait_for_steps(&output, 1);
        std::thread::sleep(Duration::from_millis(rng.below(1500)));
        signal(&child, "-KILL");
        child.wait().unwrap();
        tally.trials += 1;
        let corrupt = corrupt_checkpoints(&output);
        if !corrupt.is_empty() {
            tally.corrupt += 1;
            problems.push(format!("trial {trial}: corrupt {corrupt:?}"));
        }
        if !leftovers(&output).is_empty() {
            tally.leftovers_before_resume += 1;
        }
        let (ok, stderr) = resume(&output);
        if !ok {
            tally.failed_resumes += 1;
            problems.push(format!("trial {trial}: resume failed: {stderr}"));
        }
        let left = leftovers(&output);
        if !left.is_empty() {
            tally.leftovers_after_resume += 1;
            problems.push(format!("trial {trial}: left {left:?}"));
        }
    }
    eprintln!("kill -9 trials: {tally:?}");
    assert!(problems.is_empty(), "{tally:?}\n{}", problems.join("\n"));
}

#[test]
fn ctrl_c_and_sigterm_save_a_resumable_checkpoint() {
    let mut problems = Vec::new();
    for (trial, name) in ["-INT", "-TERM", "-INT", "-TERM"].iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("run");
        let child = start(&output, &["--max-steps", "1000"]);
        wait_for_steps(&output, 2 + trial);
        signal(&child, name);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || !stderr.contains("interrupted") {
            problems.push(format!("{name}: exit {:?}: {stderr}", out.status.code()));
            continue;
        }
        let corrupt = corrupt_checkpoints(&output);
        if !corrupt.is_empty() {
            problems.push(format!("{name}: corrupt {corrupt:?}"));
        }
        let (ok, stderr) = resume(&output);
        if !ok {
            problems.push(format!("{name}: resume failed: {stderr}"));
        }
        if !leftovers(&output).is_empty() {
            problems.push(format!("{name}: leftovers {:?}", leftovers(&output)));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
