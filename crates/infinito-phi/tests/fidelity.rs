//! Fidelity against the PyTorch reference (tools/refgen/phi_ref.py): eval and train outputs,
//! updated BatchNorm buffers, and gradients, for T = 1, 5 (< 8) and 13 (not a multiple of 8).

use candle_core::{Device, Tensor, Var};
use infinito_phi::{AttentionFeatures, ComplexityNorm, LearnedPhi, PhiComponents, PhiConfig};
use infinito_testutil::{device_test, fixture, max_abs_diff};
use std::collections::HashMap;

const TOL: f32 = 1e-4;
const CASES: [usize; 3] = [1, 5, 13];

fn fixture(name: &str, device: &Device) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixture!(name), device).expect("fixture")
}

struct Fixture {
    weights: HashMap<String, Tensor>,
    cases: HashMap<String, Tensor>,
    device: Device,
}

impl Fixture {
    fn load(device: &Device) -> Self {
        Self {
            weights: fixture("phi_small_weights.safetensors", device),
            cases: fixture("phi_small_cases.safetensors", device),
            device: device.clone(),
        }
    }

    fn get(&self, key: &str) -> &Tensor {
        self.cases
            .get(key)
            .unwrap_or_else(|| panic!("fixture key {key}"))
    }

    fn module(&self, adjust: impl FnOnce(&mut PhiConfig)) -> LearnedPhi {
        let mut cfg = LearnedPhi::infer_config(&self.weights, "").unwrap();
        adjust(&mut cfg);
        let (phi, _varmap) =
            LearnedPhi::from_config_and_state_dict(cfg, &self.weights, "", &self.device).unwrap();
        phi
    }
}

fn max_abs(a: &Tensor) -> f32 {
    a.abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

fn compare_outputs(fx: &Fixture, out: &PhiComponents, key: &str) -> f32 {
    let mut worst = 0f32;
    for (name, got) in out.named() {
        let diff = max_abs_diff(got, fx.get(&format!("{key}.{name}")));
        println!("{key}.{name}: max |diff| = {diff:.2e}");
        assert!(diff < TOL, "{key}.{name} differs by {diff}");
        worst = worst.max(diff);
    }
    worst
}

device_test!(
    config_is_inferred_from_shapes,
    config_is_inferred_from_shapes_on
);
fn config_is_inferred_from_shapes_on(device: &Device) {
    let fx = Fixture::load(device);
    let cfg = LearnedPhi::infer_config(&fx.weights, "").unwrap();
    assert_eq!((cfg.hidden_dim, cfg.num_heads), (32, 3));
    assert_eq!(
        (
            cfg.temporal_dim,
            cfg.integration_dim,
            cfg.complexity_dim,
            cfg.diversity_dim
        ),
        (16, 32, 16, 16)
    );
}

device_test!(eval_outputs_match_pytorch, eval_outputs_match_pytorch_on);
fn eval_outputs_match_pytorch_on(device: &Device) {
    let fx = Fixture::load(device);
    let phi = fx.module(|_| {});
    for t in CASES {
        let x = fx.get(&format!("t{t}.hidden_state"));
        let a = fx.get(&format!("t{t}.attention_weights"));
        compare_outputs(
            &fx,
            &phi.forward(x, Some(a), false).unwrap(),
            &format!("t{t}.eval"),
        );
        compare_outputs(
            &fx,
            &phi.forward(x, None, false).unwrap(),
            &format!("t{t}.eval_noattn"),
        );
    }
}

device_test!(
    defect_fix_options_match_pytorch,
    defect_fix_options_match_pytorch_on
);
fn defect_fix_options_match_pytorch_on(device: &Device) {
    let fx = Fixture::load(device);
    let per_sample = fx.module(|c| c.complexity_norm = ComplexityNorm::PerSample);
    let entropy = fx.module(|c| c.attention_features = AttentionFeatures::Entropy);
    for t in CASES {
        let x = fx.get(&format!("t{t}.hidden_state"));
        let a = fx.get(&format!("t{t}.attention_weights"));
        let out = per_sample.forward(x, Some(a), false).unwrap();
        compare_outputs(&fx, &out, &format!("t{t}.eval_per_sample"));
        let out = entropy.forward(x, Some(a), false).unwrap();
        compare_outputs(&fx, &out, &format!("t{t}.eval_entropy"));
    }
}

device_test!(
    train_forward_outputs_buffers_and_gradients_match_pytorch,
    train_forward_outputs_buffers_and_gradients_match_pytorch_on
);
fn train_forward_outputs_buffers_and_gradients_match_pytorch_on(device: &Device) {
    let fx = Fixture::load(device);
    for t in CASES {
        let (phi, varmap) = {
            let mut cfg = LearnedPhi::infer_config(&fx.weights, "").unwrap();
            cfg.dropout = 0.0;
            LearnedPhi::from_config_and_state_dict(cfg, &fx.weights, "", device).unwrap()
        };
        let x = Var::from_tensor(fx.get(&format!("t{t}.hidden_state"))).unwrap();
        let a = Var::from_tensor(fx.get(&format!("t{t}.attention_weights"))).unwrap();
        let out = phi.forward(&x, Some(&a), true).unwrap();
        compare_outputs(&fx, &out, &format!("t{t}.train"));

        let state = phi.state_dict("").unwrap();
        for (key, want) in fx.cases.iter().filter_map(|(k, v)| {
            k.strip_prefix(&format!("t{t}.train_state."))
                .map(|k| (k, v))
        }) {
            let diff = max_abs_diff(&state[key], want);
            println!("t{t}.train_state.{key}: max |diff| = {diff:.2e}");
            assert!(diff < TOL, "{key} differs by {diff}");
        }

        let grads = out.phi_estimate.sum_all().unwrap().backward().unwrap();
        let vars = varmap.data().lock().unwrap().clone();
        let mut checked = 0;
        for (key, want) in fx
            .cases
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(&format!("t{t}.grad.")).map(|k| (k, v)))
        {
            let var = match key {
                "hidden_state" => x.as_tensor().clone(),
                "attention_weights" => a.as_tensor().clone(),
                name => vars[name].as_tensor().clone(),
            };
            let got = match grads.get(&var) {
                Some(g) => g.clone(),
                None => want.zeros_like().unwrap(),
            };
            let diff = max_abs_diff(&got, want);
            let rel = diff / max_abs(want).max(f32::MIN_POSITIVE);
            println!(
                "t{t}.grad.{key}: max |diff| / max |grad| = {rel:.2e} (max |diff| {diff:.1e})"
            );
            // A conv bias feeding a train-mode BatchNorm has an exactly zero gradient in exact
            // arithmetic: both sides hold rounding noise there, so that case is judged absolutely.
            assert!(
                rel < 1e-4 || diff < 1e-6,
                "gradient of {key} differs: relative {rel}"
            );
            checked += 1;
        }
        let expected = if t == 13 { 2 + phi_param_count(&fx) } else { 2 };
        assert_eq!(checked, expected, "gradients compared for T = {t}");
    }
}

fn phi_param_count(fx: &Fixture) -> usize {
    fx.weights
        .keys()
        .filter(|k| !k.contains(".running_") && !k.ends_with("num_batches_tracked"))
        .count()
}

device_test!(
    gradients_reach_the_inputs_and_every_parameter,
    gradients_reach_the_inputs_and_every_parameter_on
);
fn gradients_reach_the_inputs_and_every_parameter_on(device: &Device) {
    let fx = Fixture::load(device);
    let (phi, varmap) = LearnedPhi::from_state_dict(&fx.weights, None, device).unwrap();
    let x = Var::from_tensor(fx.get("t13.hidden_state")).unwrap();
    let a = Var::from_tensor(fx.get("t13.attention_weights")).unwrap();
    // Eval mode: in train mode a conv bias before BatchNorm has an exactly zero gradient.
    let out = phi.forward(&x, Some(&a), false).unwrap();
    let grads = out.phi_estimate.sum_all().unwrap().backward().unwrap();
    let vars = varmap.all_vars();
    assert_eq!(vars.len(), phi_param_count(&fx));
    for v in vars
        .iter()
        .map(|v| v.as_tensor())
        .chain([x.as_tensor(), a.as_tensor()])
    {
        let g = grads
            .get(v)
            .expect("a gradient for every parameter and input");
        assert!(
            max_abs(g) > 0.0,
            "zero gradient for a tensor of shape {:?}",
            v.dims()
        );
    }
}
