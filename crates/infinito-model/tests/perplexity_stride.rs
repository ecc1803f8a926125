//! The perplexity sliding window against the Hugging Face stride recipe at every position: the
//! tiny GPT-2 (n_positions 64) on 100 tokens, windows [0, 64), [32, 96), [64, 100) (fixture from
//! tools/refgen/perplexity_stride_ref.py).

use std::path::{Path, PathBuf};

use candle_core::Device;
use infinito_model::score::token_logprobs;
use infinito_model::Pretrained;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[derive(serde::Deserialize)]
struct Reference {
    n_positions: usize,
    token_ids: Vec<u32>,
    logprobs: Vec<f64>,
}

#[test]
fn every_position_matches_the_stride_recipe() {
    let text = std::fs::read_to_string(fixtures().join("perplexity_stride.json")).unwrap();
    let r: Reference = serde_json::from_str(&text).unwrap();
    let model = Pretrained::from_dir(&fixtures().join("tiny-gpt2"), None, &Device::Cpu)
        .unwrap()
        .model;
    assert_eq!(model.config().n_positions, r.n_positions);
    assert!(
        r.token_ids.len() > 3 * r.n_positions / 2,
        "the text needs three windows"
    );
    let got = token_logprobs(&model, &r.token_ids).unwrap();
    assert_eq!(got.len(), r.logprobs.len());
    for (i, (g, want)) in got.iter().zip(&r.logprobs).enumerate() {
        assert!(
            (*g as f64 - want).abs() < 1e-4,
            "token {}: {g} vs {want}",
            i + 1
        );
    }
}
