//! Copying loaded tensors into a VarMap.

use candle_core::{DType, Device, Tensor};
use candle_nn::{Init, VarMap};
use infinito_checkpoint::{assign_varmap, load_tensors, CheckpointError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn values(varmap: &VarMap, name: &str) -> Vec<f32> {
    let vars = varmap.data().lock().unwrap();
    vars[name]
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn varmap_abc() -> VarMap {
    let varmap = VarMap::new();
    let dev = Device::Cpu;
    varmap
        .get((2, 2), "a", Init::Const(0.0), DType::F32, &dev)
        .unwrap();
    varmap
        .get(2, "b", Init::Const(0.0), DType::F32, &dev)
        .unwrap();
    varmap
        .get(1, "c", Init::Const(7.0), DType::F32, &dev)
        .unwrap();
    varmap
}

#[test]
fn assigns_with_prefix_and_reports_missing() {
    let varmap = varmap_abc();
    let dev = Device::Cpu;
    let mut tensors = HashMap::new();
    tensors.insert(
        "model.a".to_string(),
        Tensor::new(&[[1f32, 2.], [3., 4.]], &dev).unwrap(),
    );
    // f64 in the file, converted to the variable's f32; no prefix is fine too.
    tensors.insert(
        "b".to_string(),
        Tensor::new(&[0.5f64, -0.25], &dev).unwrap(),
    );
    tensors.insert(
        "model.unused".to_string(),
        Tensor::new(&[1f32], &dev).unwrap(),
    );
    let missing = assign_varmap(&varmap, &tensors, "model.", Path::new("src.safetensors")).unwrap();
    assert_eq!(missing, vec!["c".to_string()]);
    assert_eq!(values(&varmap, "a"), vec![1., 2., 3., 4.]);
    assert_eq!(values(&varmap, "b"), vec![0.5, -0.25]);
    assert_eq!(values(&varmap, "c"), vec![7.0]);
    let vars = varmap.data().lock().unwrap();
    assert_eq!(vars["b"].dtype(), DType::F32);
}

#[test]
fn prefixed_name_wins_over_plain_name() {
    let varmap = varmap_abc();
    let dev = Device::Cpu;
    let mut tensors = HashMap::new();
    tensors.insert("b".to_string(), Tensor::new(&[1f32, 1.], &dev).unwrap());
    tensors.insert("m.b".to_string(), Tensor::new(&[2f32, 2.], &dev).unwrap());
    let missing = assign_varmap(&varmap, &tensors, "m.", Path::new("x")).unwrap();
    assert_eq!(missing, vec!["a".to_string(), "c".to_string()]);
    assert_eq!(values(&varmap, "b"), vec![2., 2.]);
}

#[test]
fn shape_mismatch_names_tensor_and_shapes_and_changes_nothing() {
    let varmap = varmap_abc();
    let dev = Device::Cpu;
    let mut tensors = HashMap::new();
    tensors.insert("b".to_string(), Tensor::new(&[5f32, 6.], &dev).unwrap());
    tensors.insert(
        "a".to_string(),
        Tensor::new(&[1f32, 2., 3., 4.], &dev).unwrap(),
    );
    tensors.insert("c".to_string(), Tensor::new(&[8f32], &dev).unwrap());
    let source = PathBuf::from("/ckpts/step_100.safetensors");
    let err = assign_varmap(&varmap, &tensors, "", &source).unwrap_err();
    match &err {
        CheckpointError::Shape {
            name,
            expected,
            got,
            path,
        } => {
            assert_eq!(name, "a");
            assert_eq!(expected, &vec![2, 2]);
            assert_eq!(got, &vec![4]);
            assert_eq!(path, &source);
        }
        other => panic!("expected Shape, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("/ckpts/step_100.safetensors")
            && msg.contains("[4]")
            && msg.contains("[2, 2]"),
        "{msg}"
    );
    // Nothing was assigned, not even the tensors that fit.
    assert_eq!(values(&varmap, "b"), vec![0., 0.]);
    assert_eq!(values(&varmap, "c"), vec![7.]);
}

#[test]
fn pytorch_state_dict_into_varmap() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nested.pt");
    let tensors = load_tensors(&path, None, &Device::Cpu).unwrap();
    let varmap = VarMap::new();
    let dev = Device::Cpu;
    varmap
        .get((2, 3), "0.weight", Init::Const(0.0), DType::F32, &dev)
        .unwrap();
    varmap
        .get(2, "1.bias", Init::Const(0.0), DType::F32, &dev)
        .unwrap();
    let missing = assign_varmap(&varmap, &tensors, "", &path).unwrap();
    assert!(missing.is_empty());
    assert_eq!(
        values(&varmap, "0.weight"),
        vec![0.5, -0.25, 1.0, 2.0, 0.0, -1.5]
    );
    assert_eq!(values(&varmap, "1.bias"), vec![-0.5, 0.0]);
}
