//! Keeping only the newest checkpoints.

use infinito_checkpoint::{retain_latest, CheckpointError};
use infinito_testutil::dir_listing;
use std::path::Path;
use std::time::{Duration, SystemTime};

fn touch(dir: &Path, name: &str, age_secs: u64) {
    let path = dir.join(name);
    std::fs::write(&path, name).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(age_secs))
        .unwrap();
}

fn names(paths: &[std::path::PathBuf]) -> Vec<String> {
    paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn keeps_highest_steps_numerically_not_by_mtime() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // mtimes disagree with steps on purpose: the step decides.
    touch(d, "ckpt_100.safetensors", 10);
    touch(d, "ckpt_20.safetensors", 0);
    touch(d, "ckpt_3000.safetensors", 50);
    touch(d, "ckpt_5.safetensors", 1);
    touch(d, "ckpt_best.safetensors", 1000);
    touch(d, "other_1.safetensors", 1000);
    std::fs::create_dir(d.join("ckpt_1_dir")).unwrap();
    let deleted = retain_latest(d, "ckpt_", 2).unwrap();
    assert_eq!(
        names(&deleted),
        vec!["ckpt_5.safetensors", "ckpt_20.safetensors"]
    );
    assert!(deleted.iter().all(|p| p.parent() == Some(d)));
    assert_eq!(
        dir_listing(d),
        vec![
            "ckpt_100.safetensors",
            "ckpt_1_dir",
            "ckpt_3000.safetensors",
            "ckpt_best.safetensors",
            "other_1.safetensors"
        ]
    );
}

#[test]
fn step_may_be_followed_by_a_suffix() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for step in [3000, 30000, 6000, 9000] {
        touch(d, &format!("ppo_{step}_steps.zip"), 0);
    }
    let deleted = retain_latest(d, "ppo_", 3).unwrap();
    assert_eq!(names(&deleted), vec!["ppo_3000_steps.zip"]);
}

#[test]
fn without_steps_mtime_decides() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    touch(d, "run-alpha.json", 5);
    touch(d, "run-beta.json", 300);
    touch(d, "run-gamma.json", 100);
    let deleted = retain_latest(d, "run-", 1).unwrap();
    assert_eq!(names(&deleted), vec!["run-beta.json", "run-gamma.json"]);
    assert_eq!(dir_listing(d), vec!["run-alpha.json"]);
}

#[test]
fn nothing_to_delete() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    touch(d, "ckpt_1.safetensors", 0);
    touch(d, "ckpt_2.safetensors", 0);
    assert!(retain_latest(d, "ckpt_", 2).unwrap().is_empty());
    assert!(retain_latest(d, "ckpt_", 10).unwrap().is_empty());
    assert_eq!(dir_listing(d).len(), 2);
}

#[test]
fn missing_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = retain_latest(&missing, "ckpt_", 1).unwrap_err();
    assert!(matches!(err, CheckpointError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("nope"));
}
