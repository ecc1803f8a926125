//! The LoRA adapter we save, read by peft: our `Adapter::save` of the peft-made tiny-lora is the
//! committed `ours-lora`; tools/refgen/peft_load_ours.py loads that with peft (every tensor
//! taken) and records peft's outputs, which must equal ours on the same adapter.
//!
//! `INFINITO_WRITE_FIXTURES=1` rewrites `ours-lora` from the current code (then rerun the
//! refgen script).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use infinito_model::score::token_logprobs;
use infinito_model::Pretrained;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load(adapter: &Path) -> Pretrained {
    Pretrained::from_dir(&fixtures().join("tiny-gpt2"), Some(adapter), &Device::Cpu).unwrap()
}

fn tensors(dir: &Path) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let path = dir.join("adapter_model.safetensors");
    infinito_checkpoint::load_tensors(&path, None, &Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(k, t): (String, Tensor)| {
            let dims = t.dims().to_vec();
            (k, (dims, t.flatten_all().unwrap().to_vec1().unwrap()))
        })
        .collect()
}

fn config(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("adapter_config.json")).unwrap())
        .unwrap()
}

#[test]
fn saved_adapter_has_peft_names_shapes_and_config() {
    let saved = tempfile::tempdir().unwrap();
    let peft_made = fixtures().join("tiny-lora");
    load(&peft_made)
        .adapter
        .unwrap()
        .save(saved.path())
        .unwrap();
    let ours = fixtures().join("ours-lora");
    if std::env::var_os("INFINITO_WRITE_FIXTURES").is_some() {
        std::fs::create_dir_all(&ours).unwrap();
        for f in ["adapter_model.safetensors", "adapter_config.json"] {
            std::fs::copy(saved.path().join(f), ours.join(f)).unwrap();
        }
    }
    let (got, want) = (tensors(saved.path()), tensors(&peft_made));
    let names = |m: &BTreeMap<String, (Vec<usize>, Vec<f32>)>| -> Vec<(String, Vec<usize>)> {
        m.iter().map(|(k, (d, _))| (k.clone(), d.clone())).collect()
    };
    assert_eq!(
        names(&got),
        names(&want),
        "tensor names or shapes differ from peft's"
    );
    assert_eq!(got, want, "values changed on the way through");
    let (ours_config, peft_config) = (config(saved.path()), config(&peft_made));
    for key in [
        "r",
        "lora_alpha",
        "lora_dropout",
        "target_modules",
        "fan_in_fan_out",
        "bias",
        "use_rslora",
        "use_dora",
        "peft_type",
        "task_type",
    ] {
        let (a, b) = (&ours_config[key], &peft_config[key]);
        let same = match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        };
        assert!(same, "adapter_config.json {key}: ours {a}, peft {b}");
    }
    assert_eq!(
        tensors(&ours),
        got,
        "ours-lora is stale: rewrite it (see the file's doc)"
    );
    assert_eq!(config(&ours), ours_config, "ours-lora is stale");
}

#[derive(serde::Deserialize)]
struct PeftReference {
    peft_config: serde_json::Value,
    token_ids: Vec<u32>,
    token_logprobs: Vec<f64>,
    logits_cols: Vec<Vec<f64>>,
}

#[test]
fn peft_loading_our_adapter_computes_what_we_compute() {
    let text = std::fs::read_to_string(fixtures().join("ours_lora_peft.json")).unwrap();
    let r: PeftReference = serde_json::from_str(&text).unwrap();
    let ours = fixtures().join("ours-lora");
    for key in ["r", "lora_alpha"] {
        assert_eq!(
            r.peft_config[key].as_f64(),
            config(&ours)[key].as_f64(),
            "{key}"
        );
    }
    let model = load(&ours).model;
    let got = token_logprobs(&model, &r.token_ids).unwrap();
    assert_eq!(got.len(), r.token_logprobs.len());
    for (i, (g, w)) in got.iter().zip(&r.token_logprobs).enumerate() {
        assert!((*g as f64 - w).abs() < 1e-4, "token {}: {g} vs {w}", i + 1);
    }
    let ids = Tensor::new(r.token_ids.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let logits = model.logits(&ids).unwrap();
    let rows: Vec<Vec<f32>> = logits.squeeze(0).unwrap().to_vec2().unwrap();
    for (row, want) in rows.iter().zip(&r.logits_cols) {
        for (g, w) in row.iter().zip(want) {
            assert!((*g as f64 - w).abs() < 1e-4, "logit {g} vs {w}");
        }
    }
}
