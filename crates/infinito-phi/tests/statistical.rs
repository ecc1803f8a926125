//! The statistical measures against the PyTorch reference, with and without a perplexity.

use candle_core::{Device, Tensor};
use infinito_phi::statistical;
use std::path::PathBuf;

#[test]
fn statistical_measures_match_pytorch() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/phi_small_cases.safetensors");
    let cases = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    for t in [1, 5, 13] {
        let x = &cases[&format!("t{t}.hidden_state")];
        let a = &cases[&format!("t{t}.attention_weights")];
        for (tag, ppl) in [("statistical", None), ("statistical_ppl120", Some(120.0))] {
            let got = statistical::measure(x, Some(a), ppl).unwrap();
            for (name, value) in got.named() {
                let want: &Tensor = &cases[&format!("t{t}.{tag}.{name}")];
                let diff = (value - want)
                    .unwrap()
                    .abs()
                    .unwrap()
                    .max(0)
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                println!("t{t}.{tag}.{name}: max |diff| = {diff:.2e}");
                assert!(diff < 1e-5, "t{t}.{tag}.{name} differs by {diff}");
            }
        }
    }
}

#[test]
fn without_attention_diversity_is_one_half_and_coherences_are_absent() {
    let x = Tensor::randn(0f32, 1.0, (3, 6, 8), &Device::Cpu).unwrap();
    let got = statistical::measure(&x, None, None).unwrap();
    assert_eq!(
        got.attention_diversity.to_vec1::<f32>().unwrap(),
        vec![0.5; 3]
    );
    assert!(got.head_coherence.is_none() && got.entropy_coherence.is_none());
    assert_eq!(got.named().len(), 5);
}
