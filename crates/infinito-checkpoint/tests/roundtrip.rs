//! Saving and loading tensors, metadata and JSON files.

use candle_core::{DType, Device, Tensor};
use infinito_checkpoint::{
    load_json, load_tensors, read_metadata, save_json, save_tensors, CheckpointError,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

fn sample_tensors() -> HashMap<String, Tensor> {
    let dev = Device::Cpu;
    let f32_mat = Tensor::new(&[[1.5f32, -2.0, 3.25], [0.0, 1e-7, -1e7]], &dev).unwrap();
    let mut t = HashMap::new();
    t.insert("f32".to_string(), f32_mat.clone());
    // A transposed (non-contiguous) tensor must be saved in row-major order.
    t.insert("f32_t".to_string(), f32_mat.t().unwrap());
    t.insert(
        "f64".to_string(),
        Tensor::new(&[0.1f64, -1e300, 2.0], &dev).unwrap(),
    );
    t.insert(
        "i64".to_string(),
        Tensor::new(&[i64::MIN, -1, 0, i64::MAX], &dev).unwrap(),
    );
    t.insert(
        "u32".to_string(),
        Tensor::new(&[[u32::MAX], [7]], &dev).unwrap(),
    );
    t.insert(
        "u8".to_string(),
        Tensor::new(&[0u8, 200, 255], &dev).unwrap(),
    );
    t.insert(
        "bf16".to_string(),
        Tensor::new(&[1.0f32, -0.5, 256.0], &dev)
            .unwrap()
            .to_dtype(DType::BF16)
            .unwrap(),
    );
    t.insert(
        "f16".to_string(),
        Tensor::new(&[0.25f32, 65504.0], &dev)
            .unwrap()
            .to_dtype(DType::F16)
            .unwrap(),
    );
    t.insert("scalar".to_string(), Tensor::new(4.5f32, &dev).unwrap());
    t.insert(
        "empty".to_string(),
        Tensor::zeros((0, 3), DType::F32, &dev).unwrap(),
    );
    t.insert(
        "i32_3d".to_string(),
        Tensor::arange(0i64, 24, &dev)
            .unwrap()
            .reshape((2, 3, 4))
            .unwrap()
            .to_dtype(DType::I32)
            .unwrap(),
    );
    t
}

/// Every element as f64 (exact for all the sample values) or i64.
fn as_f64(t: &Tensor) -> Vec<f64> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn assert_same(a: &Tensor, b: &Tensor, name: &str) {
    assert_eq!(a.dtype(), b.dtype(), "dtype of {name}");
    assert_eq!(a.dims(), b.dims(), "shape of {name}");
    match a.dtype() {
        DType::I64 => assert_eq!(
            a.flatten_all().unwrap().to_vec1::<i64>().unwrap(),
            b.flatten_all().unwrap().to_vec1::<i64>().unwrap(),
            "values of {name}"
        ),
        _ => assert_eq!(as_f64(a), as_f64(b), "values of {name}"),
    }
}

#[test]
fn tensors_and_metadata_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.safetensors");
    let tensors = sample_tensors();
    let meta =
        serde_json::json!({"step": 1200, "phase": "text", "loss": 3.25, "nested": {"a": [1, 2]}});
    save_tensors(&path, &tensors, Some(&meta)).unwrap();

    let loaded = load_tensors(&path, None, &Device::Cpu).unwrap();
    let mut names: Vec<_> = loaded.keys().cloned().collect();
    names.sort();
    let mut expected: Vec<_> = tensors.keys().cloned().collect();
    expected.sort();
    assert_eq!(names, expected);
    for (name, t) in &tensors {
        assert_same(t, &loaded[name], name);
    }
    // The transposed tensor holds the transposed values.
    assert_eq!(
        as_f64(&loaded["f32_t"]),
        vec![1.5, 0.0, -2.0, 1e-7f32 as f64, 3.25, -1e7]
    );
    assert_eq!(read_metadata(&path).unwrap(), Some(meta));
}

#[test]
fn metadata_is_stored_under_the_infinito_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let meta = serde_json::json!({"epoch": 2});
    save_tensors(&path, &sample_tensors(), Some(&meta)).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let stored = header.metadata().as_ref().unwrap().get("infinito").unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(stored).unwrap(),
        meta
    );
    assert_eq!(file.len(), sample_tensors().len());
}

#[test]
fn missing_metadata_reads_as_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.safetensors");
    save_tensors(&path, &sample_tensors(), None).unwrap();
    assert_eq!(read_metadata(&path).unwrap(), None);
}

#[test]
fn format_is_detected_by_content_not_extension() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weights.pt");
    save_tensors(&path, &sample_tensors(), None).unwrap();
    let loaded = load_tensors(&path, Some("model_state_dict"), &Device::Cpu).unwrap();
    assert_eq!(loaded.len(), sample_tensors().len());
}

#[test]
fn saving_overwrites_and_leaves_only_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.safetensors");
    save_tensors(&path, &sample_tensors(), None).unwrap();
    let mut one = HashMap::new();
    one.insert("x".to_string(), Tensor::new(&[9f32], &Device::Cpu).unwrap());
    save_tensors(&path, &one, Some(&serde_json::json!(1))).unwrap();
    let loaded = load_tensors(&path, None, &Device::Cpu).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(as_f64(&loaded["x"]), vec![9.0]);
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1);
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct State {
    step: u64,
    lr: f64,
    name: String,
    history: Vec<f32>,
}

#[test]
fn json_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let state = State {
        step: 42,
        lr: 2e-4,
        name: "phi".to_string(),
        history: vec![1.5, 0.25],
    };
    save_json(&path, &state).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\n  \"step\": 42"), "pretty printed: {text}");
    assert!(text.ends_with('\n'));
    assert_eq!(load_json::<State>(&path).unwrap(), state);
}

#[test]
fn bad_json_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    std::fs::write(&path, "{\"step\": 1,").unwrap();
    let err = load_json::<State>(&path).unwrap_err();
    assert!(matches!(err, CheckpointError::Json { .. }), "{err:?}");
    assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    let missing = dir.path().join("nope.json");
    let err = load_json::<State>(&missing).unwrap_err();
    assert!(matches!(err, CheckpointError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("nope.json"), "{err}");
}
