//! Atomic writes: the target is either the old or the new content, and no temporary file remains.

use infinito_checkpoint::{write_atomic, CheckpointError};
use infinito_testutil::dir_listing;

#[test]
fn creates_and_replaces_without_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    write_atomic(&path, b"first").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"first");
    write_atomic(&path, b"second, longer content").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second, longer content");
    write_atomic(&path, b"").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"");
    assert_eq!(dir_listing(dir.path()), vec!["state.json"]);
}

#[test]
fn failed_rename_keeps_target_and_removes_temp() {
    // The target is a non-empty directory: the temp file is written, the rename onto it fails.
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("ckpt.safetensors");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("inside"), b"old").unwrap();
    let err = write_atomic(&target, b"new bytes").unwrap_err();
    assert!(matches!(err, CheckpointError::Io { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&*target.to_string_lossy()) && msg.contains("rename"),
        "{msg}"
    );
    assert_eq!(dir_listing(dir.path()), vec!["ckpt.safetensors"]);
    assert_eq!(std::fs::read(target.join("inside")).unwrap(), b"old");
}

#[test]
fn missing_directory_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("no_such_dir").join("ckpt.json");
    let err = write_atomic(&target, b"x").unwrap_err();
    assert!(matches!(err, CheckpointError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("no_such_dir"));
    assert!(dir_listing(dir.path()).is_empty());
}

#[test]
fn concurrent_writers_never_expose_partial_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.bin");
    let a = vec![b'a'; 1 << 20];
    let b = vec![b'b'; 1 << 19];
    write_atomic(&path, &a).unwrap();
    std::thread::scope(|s| {
        for i in 0..4 {
            let (path, a, b) = (&path, &a, &b);
            s.spawn(move || {
                for j in 0..10 {
                    let bytes = if (i + j) % 2 == 0 { a } else { b };
                    write_atomic(path, bytes).unwrap();
                }
            });
        }
        let (path, a, b) = (&path, &a, &b);
        s.spawn(move || {
            for _ in 0..50 {
                let seen = std::fs::read(path).unwrap();
                assert!(
                    seen == *a || seen == *b,
                    "partial content of {} bytes",
                    seen.len()
                );
            }
        });
    });
    assert_eq!(dir_listing(dir.path()), vec!["shared.bin"]);
}
