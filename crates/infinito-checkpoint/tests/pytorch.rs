//! Importing PyTorch `torch.save` checkpoints (fixtures from tools/refgen/checkpoint_fixtures.py).

use candle_core::{DType, Device, Tensor};
use infinito_checkpoint::{load_tensors, CheckpointError};
use infinito_testutil::fixture;
use std::collections::HashMap;

/// The expected tensors of one fixture: name -> (torch dtype, shape, row-major values).
fn expected(file: &str) -> HashMap<String, (String, Vec<usize>, Vec<f64>)> {
    let text = std::fs::read_to_string(fixture!("expected.json")).unwrap();
    let all: serde_json::Value = serde_json::from_str(&text).unwrap();
    all[file]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, v)| {
            let dtype = v["dtype"].as_str().unwrap().to_string();
            let shape = v["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            let values = v["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            (name.clone(), (dtype, shape, values))
        })
        .collect()
}

/// The candle dtype a torch dtype loads as.
fn candle_dtype(torch: &str) -> DType {
    match torch {
        "float32" => DType::F32,
        "float64" => DType::F64,
        "float16" => DType::F16,
        "bfloat16" => DType::BF16,
        "int64" => DType::I64,
        "int32" => DType::I32,
        "int16" | "int8" => DType::I16,
        "uint8" | "bool" => DType::U8,
        other => panic!("fixture dtype {other} not covered"),
    }
}

fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn assert_matches_fixture(loaded: &HashMap<String, Tensor>, file: &str) {
    let want = expected(file);
    let mut got_names: Vec<_> = loaded.keys().cloned().collect();
    got_names.sort();
    let mut want_names: Vec<_> = want.keys().cloned().collect();
    want_names.sort();
    assert_eq!(got_names, want_names, "{file}");
    for (name, (dtype, shape, vals)) in &want {
        let t = &loaded[name];
        assert_eq!(t.dtype(), candle_dtype(dtype), "{file}: dtype of {name}");
        assert_eq!(t.dims(), shape.as_slice(), "{file}: shape of {name}");
        assert_eq!(&values(t), vals, "{file}: values of {name}");
    }
}

#[test]
fn flat_state_dict_loads_every_dtype_exactly() {
    let loaded = load_tensors(&fixture!("flat.pt"), None, &Device::Cpu).unwrap();
    assert_matches_fixture(&loaded, "flat.pt");
    // Values beyond f64-exactness checks: the full i64 range and the transposed shared view.
    let i64s = loaded["i64"].to_vec1::<i64>().unwrap();
    assert_eq!(i64s, vec![3, -7, 1 << 40]);
    assert_eq!(loaded["f32_t"].dims(), &[4, 3]);
    assert_eq!(
        values(&loaded["f32_t"])[..4],
        [-1.0, 0.0, 1.0, -0.75],
        "the transposed view is read through its strides"
    );
    assert_eq!(values(&loaded["f32_row"]), vec![0.0, 0.25, 0.5, 0.75]);
}

#[test]
fn nested_model_state_dict_is_found_without_a_key() {
    let loaded = load_tensors(&fixture!("nested.pt"), None, &Device::Cpu).unwrap();
    assert_matches_fixture(&loaded, "nested.pt");
    assert_eq!(
        values(&loaded["0.weight"]),
        vec![0.5, -0.25, 1.0, 2.0, 0.0, -1.5]
    );
    assert_eq!(loaded["num_batches"].to_vec1::<i64>().unwrap(), vec![4]);
}

#[test]
fn nested_model_state_dict_with_an_explicit_key() {
    let loaded = load_tensors(
        &fixture!("nested.pt"),
        Some("model_state_dict"),
        &Device::Cpu,
    )
    .unwrap();
    assert_matches_fixture(&loaded, "nested.pt");
}

#[test]
fn state_dict_key_is_also_well_known() {
    let loaded = load_tensors(&fixture!("nested_state.pt"), None, &Device::Cpu).unwrap();
    assert_matches_fixture(&loaded, "nested_state.pt");
    let explicit = load_tensors(
        &fixture!("nested_state.pt"),
        Some("state_dict"),
        &Device::Cpu,
    )
    .unwrap();
    assert_matches_fixture(&explicit, "nested_state.pt");
}

#[test]
fn a_key_without_direct_tensors_gives_an_empty_map() {
    // The optimizer state dict nests its tensors one level deeper ("state" -> param id -> ...).
    let loaded = load_tensors(
        &fixture!("nested.pt"),
        Some("optimizer_state_dict"),
        &Device::Cpu,
    )
    .unwrap();
    assert!(loaded.is_empty(), "{:?}", loaded.keys());
}

#[test]
fn unknown_key_lists_the_available_ones() {
    let path = fixture!("nested.pt");
    let err = load_tensors(&path, Some("weights"), &Device::Cpu).unwrap_err();
    match &err {
        CheckpointError::MissingKey { key, available, .. } => {
            assert_eq!(key, "weights");
            for k in [
                "epoch",
                "model_state_dict",
                "optimizer_state_dict",
                "history",
            ] {
                assert!(available.iter().any(|a| a == k), "{available:?} lacks {k}");
            }
        }
        other => panic!("expected MissingKey, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&*path.to_string_lossy()) && msg.contains("weights"),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "{msg}");
}

#[test]
fn a_non_dict_entry_as_key_is_an_error() {
    let path = fixture!("nested.pt");
    let err = load_tensors(&path, Some("epoch"), &Device::Cpu).unwrap_err();
    assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("\"epoch\"") && msg.contains("an integer"),
        "{msg}"
    );
}

#[test]
fn the_extension_does_not_matter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weights.safetensors");
    std::fs::copy(fixture!("nested.pt"), &path).unwrap();
    let loaded = load_tensors(&path, None, &Device::Cpu).unwrap();
    assert_matches_fixture(&loaded, "nested.pt");
}

#[test]
fn an_unknown_nested_key_must_be_named() {
    let path = fixture!("custom_key.pt");
    let err = load_tensors(&path, None, &Device::Cpu).unwrap_err();
    assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("custom_key.pt") && msg.contains("[\"weights\"]"),
        "{msg}"
    );
    let loaded = load_tensors(&path, Some("weights"), &Device::Cpu).unwrap();
    assert_matches_fixture(&loaded, "custom_key.pt");
}
