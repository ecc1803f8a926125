//! Reading a run folder written by stable-baselines3's callbacks (tests/fixtures/sb3_run, made
//! by tools/refgen/sb3_run_ref.py) against what SB3 itself reads from it.

use std::path::{Path, PathBuf};

use infinito_rl::analysis::original::{OriginalReport, OriginalRun, RunFolder, PROBES};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixtures().join("sb3_run_expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn original() -> OriginalRun {
    match RunFolder::detect(&fixtures().join("sb3_run")).unwrap() {
        RunFolder::Original(run) => run,
        RunFolder::Ours => panic!("an SB3 folder taken for one of ours"),
    }
}

#[test]
fn evaluations_npz_as_numpy_reads_it() {
    let run = original();
    let want = &expected()["evaluations"];
    let evals = run.evaluations.as_ref().expect("evaluations.npz");
    let timesteps: Vec<f64> = evals.timesteps.iter().map(|&t| t as f64).collect();
    assert_eq!(timesteps, f64s(&want["timesteps"]));
    let results: Vec<Vec<f64>> = want["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(f64s)
        .collect();
    assert_eq!(evals.results, results);
    let lengths: Vec<Vec<f64>> = want["ep_lengths"]
        .as_array()
        .unwrap()
        .iter()
        .map(f64s)
        .collect();
    let ours: Vec<Vec<f64>> = evals
        .ep_lengths
        .iter()
        .map(|r| r.iter().map(|&l| l as f64).collect())
        .collect();
    assert_eq!(ours, lengths);
}

#[test]
fn checkpoints_agents_and_probes_as_sb3_sees_them() {
    let run = original();
    let want = expected();
    let names: Vec<String> = run
        .checkpoints
        .iter()
        .map(|(_, p)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let want_names: Vec<String> = want["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, want_names);
    let steps: Vec<u64> = run.checkpoints.iter().map(|(s, _)| *s).collect();
    assert_eq!(steps, vec![32, 64, 96]);

    let report = OriginalReport::of(&run).unwrap();
    assert_eq!(report.num_timesteps, Some(96));
    let newest = report.newest.as_ref().unwrap();
    assert!(newest.path.ends_with("ppo_infinito_scheduler_final.zip"));
    let best = report.best_model.as_ref().unwrap();
    for (agent, key) in [(newest, "final"), (best, "best_model")] {
        let want = &want["agents"][key];
        assert_eq!(agent.num_timesteps, want["num_timesteps"].as_u64().unwrap());
        assert_eq!(agent.probes.len(), PROBES.len());
        for (i, probe) in agent.probes.iter().enumerate() {
            let probs = f64s(&want["probs"][i]);
            for (got, exp) in probe.line.probs.iter().zip(&probs) {
                assert!((f64::from(*got) - exp).abs() < 1e-6, "{key} probe {i}");
            }
            let value = want["values"][i].as_f64().unwrap();
            assert!((f64::from(probe.line.value) - value).abs() < 1e-5, "{key}");
            assert_eq!(
                probe.line.action as u64,
                want["actions"][i].as_u64().unwrap()
            );
        }
    }
    let evals = report.evaluations.as_ref().unwrap();
    // Means 10/3, 13/3, 11/3: the best is the second, at step 64, and so is best_model.zip.
    assert_eq!(evals.best.timestep, 64);
    assert_eq!(best.num_timesteps, 64);
    let text = report.render();
    assert!(text.contains("steps       96"), "{text}");
    assert!(text.contains("checkpoints 3 (32, 64, 96)"), "{text}");
}

#[test]
fn a_folder_with_nothing_recognisable_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    let err = RunFolder::detect(dir.path()).unwrap_err();
    assert!(err.is_usage());
    assert!(err.to_string().contains("not a scheduler run"), "{err}");
}
