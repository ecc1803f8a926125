//! Bad input gives a one-line error naming the file, never a panic.

use candle_core::{Device, Tensor};
use infinito_checkpoint::{load_tensors, read_metadata, save_tensors, CheckpointError};
use infinito_testutil::fixture;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn load_err(path: &Path) -> CheckpointError {
    match load_tensors(path, None, &Device::Cpu) {
        Ok(t) => panic!("{} loaded {} tensors", path.display(), t.len()),
        Err(e) => e,
    }
}

/// The message is one line and names the file.
fn assert_message(err: &CheckpointError, path: &Path, also: &str) {
    let msg = err.to_string();
    assert!(msg.contains(&*path.to_string_lossy()), "no path in: {msg}");
    assert!(msg.contains(also), "{also:?} missing in: {msg}");
    assert!(!msg.contains('\n'), "not one line: {msg}");
}

fn small_safetensors(dir: &Path) -> PathBuf {
    let path = dir.join("small.safetensors");
    let mut t = HashMap::new();
    t.insert(
        "a".to_string(),
        Tensor::new(&[1f32, 2., 3., 4.], &Device::Cpu).unwrap(),
    );
    t.insert(
        "b".to_string(),
        Tensor::new(&[5i64, 6], &Device::Cpu).unwrap(),
    );
    save_tensors(&path, &t, Some(&serde_json::json!({"step": 1}))).unwrap();
    path
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.safetensors");
    let err = load_err(&path);
    assert!(matches!(err, CheckpointError::NotFound { .. }), "{err:?}");
    assert_message(&err, &path, "not found");
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.pt");
    std::fs::write(&path, b"").unwrap();
    let err = load_err(&path);
    assert!(matches!(err, CheckpointError::Empty { .. }), "{err:?}");
    assert_message(&err, &path, "safetensors or PyTorch .pt");
    let err = read_metadata(&path).unwrap_err();
    assert!(matches!(err, CheckpointError::Empty { .. }), "{err:?}");
}

#[test]
fn text_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.safetensors");
    std::fs::write(&path, "epoch,loss\n1,3.25\n2,3.01\n").unwrap();
    let err = load_err(&path);
    assert!(matches!(err, CheckpointError::Foreign { .. }), "{err:?}");
    assert_message(&err, &path, "not a safetensors or PyTorch .pt file");
    assert_message(&err, &path, "epoch,loss");
    let err = read_metadata(&path).unwrap_err();
    assert!(matches!(err, CheckpointError::Foreign { .. }), "{err:?}");
}

#[test]
fn json_text_is_not_taken_for_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, "{\"n_embd\": {\"a\": 768}}").unwrap();
    let err = load_err(&path);
    assert!(matches!(err, CheckpointError::Foreign { .. }), "{err:?}");
}

#[test]
fn truncated_safetensors_every_length() {
    let dir = tempfile::tempdir().unwrap();
    let full = small_safetensors(dir.path());
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.path().join("cut.safetensors");
    for len in 0..bytes.len() {
        std::fs::write(&cut, &bytes[..len]).unwrap();
        let err = load_err(&cut);
        let expected_kind = match len {
            0 => matches!(err, CheckpointError::Empty { .. }),
            _ => matches!(err, CheckpointError::Truncated { .. }),
        };
        assert!(expected_kind, "length {len}: {err:?}");
        assert_message(&err, &cut, "");
    }
}

#[test]
fn truncated_safetensors_message() {
    let dir = tempfile::tempdir().unwrap();
    let full = small_safetensors(dir.path());
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() - 3]).unwrap();
    let err = load_err(&cut);
    assert_message(&err, &cut, "truncated safetensors file");
    // Inside the header: read_metadata sees the truncation too.
    std::fs::write(&cut, &bytes[..20]).unwrap();
    let err = read_metadata(&cut).unwrap_err();
    assert!(matches!(err, CheckpointError::Truncated { .. }), "{err:?}");
    assert_message(&err, &cut, "header declares");
}

#[test]
fn safetensors_with_a_broken_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    let header = b"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 12]}}";
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0u8; 12]);
    std::fs::write(&path, &bytes).unwrap();
    let err = load_err(&path);
    assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err:?}");
    assert_message(&err, &path, "invalid safetensors file");
}

#[test]
fn truncated_pytorch_every_length() {
    let bytes = std::fs::read(fixture!("nested.pt")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pt");
    // Every third length, and every length near the end (the zip directory).
    let lengths = (0..bytes.len())
        .step_by(3)
        .chain(bytes.len() - 64..bytes.len());
    for len in lengths {
        std::fs::write(&cut, &bytes[..len]).unwrap();
        let err = load_err(&cut);
        assert_message(&err, &cut, "");
    }
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_err(&cut);
    assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err:?}");
    assert_message(&err, &cut, "invalid PyTorch .pt file");
}

#[test]
fn corrupted_pytorch_bytes_never_panic() {
    let bytes = std::fs::read(fixture!("flat.pt")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flipped.pt");
    for i in (0..bytes.len()).step_by(7) {
        let mut damaged = bytes.clone();
        damaged[i] ^= 0x5a;
        std::fs::write(&path, &damaged).unwrap();
        // Either the damage is detected, or it hit bytes that do not matter.
        if let Err(err) = load_tensors(&path, None, &Device::Cpu) {
            assert_message(&err, &path, "");
        }
    }
}

#[test]
fn zip_that_is_not_a_torch_archive() {
    let path = fixture!("not_torch.zip");
    let err = load_err(&path);
    assert!(matches!(err, CheckpointError::Foreign { .. }), "{err:?}");
    assert_message(&err, &path, "data.pkl");
    assert_message(&err, &path, "README.txt");
}

#[test]
fn legacy_pytorch_format() {
    let path = fixture!("legacy.pt");
    let err = load_err(&path);
    assert!(matches!(err, CheckpointError::Foreign { .. }), "{err:?}");
    assert_message(&err, &path, "legacy PyTorch");
}

#[test]
fn metadata_of_a_pytorch_file_is_refused() {
    let path = fixture!("flat.pt");
    let err = read_metadata(&path).unwrap_err();
    assert!(matches!(err, CheckpointError::Foreign { .. }), "{err:?}");
    assert_message(&err, &path, "not a safetensors file");
}
