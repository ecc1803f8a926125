//! Initial values and dropout seeds are keyed by name, not by a position in a list: adding a
//! layer or a call site changes no other draw.

use candle_core::Device;
use infinito_model::pretrained::random_weights;
use infinito_model::{Gpt2Config, Mode};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn random_weights_are_keyed_by_name_not_by_position() -> TestResult {
    let two = random_weights(&Gpt2Config::new(97, 32, 16, 2, 2), 7, &Device::Cpu)?;
    let three = random_weights(&Gpt2Config::new(97, 32, 16, 3, 2), 7, &Device::Cpu)?;
    let other_seed = random_weights(&Gpt2Config::new(97, 32, 16, 2, 2), 8, &Device::Cpu)?;
    let mut compared = 0;
    for (name, tensor) in &two {
        // The residual projections' scale depends on the depth (GPT-2's 1/sqrt(2 n_layer)),
        // and biases and LayerNorm gains are constants.
        if name.ends_with("c_proj.weight") || !name.ends_with("weight") || name.contains(".ln_") {
            continue;
        }
        let values = tensor.flatten_all()?.to_vec1::<f32>()?;
        assert_eq!(
            values,
            three[name].flatten_all()?.to_vec1::<f32>()?,
            "{name} changed when a layer was added"
        );
        assert_ne!(
            values,
            other_seed[name].flatten_all()?.to_vec1::<f32>()?,
            "{name} ignores the seed"
        );
        compared += 1;
    }
    assert!(compared >= 6, "only {compared} weights compared");
    Ok(())
}

#[test]
fn dropout_seeds_are_derived_by_call_site_name() {
    let mode = Mode::Train { seed: 5 };
    assert_eq!(mode.derive("attn"), Mode::Train { seed: 5 }.derive("attn"));
    assert_ne!(mode.derive("attn"), mode.derive("mlp"));
    assert_ne!(mode.derive("attn"), Mode::Train { seed: 6 }.derive("attn"));
    let h = mode.derive("h");
    assert_ne!(h.derive_index(0), h.derive_index(1));
    assert_ne!(h.derive_index(0), mode.derive_index(0));
    assert_eq!(Mode::Eval.derive("attn").derive_index(3), Mode::Eval);
}
