//! Behaviour of the hybrid model on a tiny random configuration.

use candle_core::{DType, Device, Tensor};
use infinito_model::gpt2::AttentionCapture;
use infinito_model::hybrid::{Hybrid, HybridConfig};
use infinito_model::loss::{hybrid_loss, LossWeights, PhiGrad, PhiLoss, PhiObjective};
use infinito_model::pretrained::random_weights;
use infinito_model::{Gpt2Config, LoraConfig, Mode};
use infinito_phi::PhiConfig;
use infinito_testutil::{device_test, fixture, max_abs_diff};

fn config(train_base: bool) -> HybridConfig {
    let gpt2 = Gpt2Config::new(97, 32, 32, 2, 4);
    HybridConfig {
        phi: PhiConfig::new(gpt2.n_embd, gpt2.n_head),
        gpt2,
        lora: LoraConfig::new(4, 16.0, 0.1),
        memory_slots: 8,
        train_base,
    }
}

fn hybrid(seed: u64) -> Hybrid {
    let cfg = config(false);
    let base = random_weights(&cfg.gpt2, 3, &Device::Cpu).unwrap();
    Hybrid::new(cfg, base, seed, &Device::Cpu).unwrap()
}

fn batch() -> (Tensor, Tensor) {
    let ids: Vec<u32> = (0..4 * 17).map(|i| (i * 31 % 97) as u32).collect();
    let ids = Tensor::from_vec(ids, (4, 17), &Device::Cpu).unwrap();
    (
        ids.narrow(1, 0, 16).unwrap().contiguous().unwrap(),
        ids.narrow(1, 1, 16).unwrap().contiguous().unwrap(),
    )
}

fn objective(grad: PhiGrad) -> PhiObjective {
    PhiObjective {
        loss: PhiLoss::Linear,
        grad,
        target: 6.0,
        band: [3.0, 6.0],
    }
}

const WEIGHTS: LossWeights = LossWeights {
    text: 1.0,
    phi: 0.6,
};

#[test]
fn empty_memory_in_eval_gives_plain_gpt2_logits_and_leaves_memory_unchanged() {
    let mut h = hybrid(1);
    let (ids, _) = batch();
    let out = h.forward(&ids, Mode::Eval).unwrap();
    let plain = h
        .gpt2()
        .forward(&ids, Mode::Eval, AttentionCapture::None, None)
        .unwrap();
    let plain = h.gpt2().lm_head(&plain.hidden).unwrap();
    assert_eq!(max_abs_diff(&out.logits().unwrap(), &plain), 0.0);
    assert_eq!(h.memory().utilization(), 0.0);
    let again = h.forward(&ids, Mode::Eval).unwrap();
    assert_eq!(
        max_abs_diff(&out.logits().unwrap(), &again.logits().unwrap()),
        0.0,
        "evaluation is deterministic"
    );
    let phi: Vec<f32> = out.phi.phi_estimate.to_vec1().unwrap();
    assert_eq!(phi.len(), 4);
    let phi_again: Vec<f32> = again.phi.phi_estimate.to_vec1().unwrap();
    assert_eq!(phi, phi_again, "PHI in evaluation is deterministic");
    assert!(
        phi.iter().any(|p| (p - phi[0]).abs() > 1e-6),
        "PHI is the same for different sequences: {phi:?}"
    );
}

#[test]
fn training_writes_each_samples_phi_into_memory_and_reads_it_back() {
    let mut h = hybrid(1);
    let (ids, _) = batch();
    let out = h.forward(&ids, Mode::Train { seed: 5 }).unwrap();
    assert!(
        out.memory_utilization > 0.0,
        "memory must be written in training"
    );
    let written = (out.memory_utilization * 8.0).round() as usize;
    assert_eq!(written, 4, "one entry per sample while slots are free");
    let phi: Vec<f32> = out.phi.phi_estimate.to_vec1().unwrap();
    let mean = phi.iter().map(|&p| p as f64).sum::<f64>() / 4.0;
    assert!(
        (h.memory().mean_phi() - mean).abs() < 1e-5,
        "stored PHI is each sample's PHI"
    );
    // With a non-empty memory the evaluation logits now differ from plain GPT-2's.
    let out = h.forward(&ids, Mode::Eval).unwrap();
    let plain = h
        .gpt2()
        .forward(&ids, Mode::Eval, AttentionCapture::None, None)
        .unwrap();
    assert!(
        max_abs_diff(
            &out.logits().unwrap(),
            &h.gpt2().lm_head(&plain.hidden).unwrap()
        ) > 0.0
    );
    // More writes than slots: utilisation saturates at 1, never beyond.
    for s in 0..4 {
        h.forward(&ids, Mode::Train { seed: s }).unwrap();
    }
    assert_eq!(h.memory().utilization(), 1.0);
}

#[test]
fn phi_gradient_reaches_the_phi_nets_only_when_asked() {
    let (ids, labels) = batch();
    for (grad, phi_nets_get_grad) in [
        (PhiGrad::All, true),
        (PhiGrad::Model, true),
        (PhiGrad::None, false),
    ] {
        let mut h = hybrid(1);
        let out = h.forward(&ids, Mode::Train { seed: 9 }).unwrap();
        let losses = hybrid_loss(&out, &labels, WEIGHTS, objective(grad)).unwrap();
        let grads = losses.total.backward().unwrap();
        let vars = h.trainable_vars();
        let phi_grad = vars
            .iter()
            .filter(|(n, _)| n.starts_with("iit_metrics.temporal_net"))
            .any(|(_, v)| grads.get(v.as_tensor()).is_some());
        assert_eq!(phi_grad, phi_nets_get_grad, "{grad:?}");
        let lora_b = vars
            .iter()
            .find(|(n, _)| n.ends_with("h.1.attn.c_attn.lora_B.weight"))
            .unwrap();
        assert!(
            grads.get(lora_b.1.as_tensor()).is_some(),
            "LoRA always learns from the LM loss"
        );
        let noise = vars
            .iter()
            .find(|(n, _)| n == "stochastic_exploration.adaptive_scale")
            .unwrap();
        assert!(
            grads.get(noise.1.as_tensor()).is_some(),
            "the noise scale learns"
        );
    }
}

#[test]
fn loss_terms_follow_their_definitions() {
    let (ids, labels) = batch();
    let mut h = hybrid(1);
    let out = h.forward(&ids, Mode::Eval).unwrap();
    let lin = hybrid_loss(&out, &labels, WEIGHTS, objective(PhiGrad::All)).unwrap();
    assert!((lin.phi_loss - (6.0 - lin.phi_mean)).abs() < 1e-5);
    let total: f32 = lin.total.to_scalar().unwrap();
    assert!((total as f64 - (lin.lm + 0.6 * lin.phi_loss)).abs() < 1e-4);
    let sq = hybrid_loss(
        &out,
        &labels,
        WEIGHTS,
        PhiObjective {
            loss: PhiLoss::Squared,
            ..objective(PhiGrad::All)
        },
    )
    .unwrap();
    assert!((sq.phi_loss - (6.0 - lin.phi_mean).powi(2)).abs() < 1e-4);
    let hinge = PhiObjective {
        loss: PhiLoss::Hinge,
        target: 0.0,
        ..objective(PhiGrad::All)
    };
    assert_eq!(
        hybrid_loss(&out, &labels, WEIGHTS, hinge).unwrap().phi_loss,
        0.0
    );
    let bad = Tensor::zeros((4, 3), DType::U32, &Device::Cpu).unwrap();
    assert!(hybrid_loss(&out, &bad, WEIGHTS, objective(PhiGrad::All)).is_err());
}

#[test]
fn state_round_trips_and_training_is_reproducible_from_the_seed() {
    let (ids, _) = batch();
    let mut a = hybrid(1);
    a.forward(&ids, Mode::Train { seed: 2 }).unwrap();
    let state = a.state().unwrap();
    assert!(
        state.contains_key("memory.memory_keys")
            && state.contains_key("iit_metrics.complexity_net.bn1.running_mean")
    );
    let mut b = hybrid(99);
    b.load_state(&state).unwrap();
    let (oa, ob) = (
        a.forward(&ids, Mode::Eval).unwrap(),
        b.forward(&ids, Mode::Eval).unwrap(),
    );
    assert_eq!(
        max_abs_diff(&oa.logits().unwrap(), &ob.logits().unwrap()),
        0.0
    );
    assert_eq!(
        max_abs_diff(&oa.phi.phi_estimate, &ob.phi.phi_estimate),
        0.0
    );
    let (ta, tb) = (
        a.forward(&ids, Mode::Train { seed: 4 }).unwrap(),
        b.forward(&ids, Mode::Train { seed: 4 }).unwrap(),
    );
    assert_eq!(
        max_abs_diff(&ta.logits().unwrap(), &tb.logits().unwrap()),
        0.0,
        "same seed, same state: same training step"
    );
    let tc = a.forward(&ids, Mode::Train { seed: 5 }).unwrap();
    assert!(
        max_abs_diff(&ta.logits().unwrap(), &tc.logits().unwrap()) > 0.0,
        "another seed draws other noise and dropout"
    );
}

#[test]
fn a_trainable_base_is_part_of_the_state() {
    let cfg = config(true);
    let base = random_weights(&cfg.gpt2, 3, &Device::Cpu).unwrap();
    let h = Hybrid::new(cfg, base.clone(), 1, &Device::Cpu).unwrap();
    let state = h.state().unwrap();
    let wte = &state["gpt2.base_model.model.transformer.wte.weight"];
    assert_eq!(max_abs_diff(wte, &base["transformer.wte.weight"]), 0.0);
}

/// The hybrid of an original-format fixture checkpoint (`NAME.pt`) and its expected evaluation
/// outputs (`NAME_expected.safetensors`), on `device`.
fn original_fixture(
    name: &str,
    device: &Device,
) -> (Hybrid, std::collections::HashMap<String, Tensor>) {
    use infinito_model::import::import_original;
    let path = fixture!(format!("{name}.pt"));
    let tensors = infinito_checkpoint::load_tensors(&path, None, device).unwrap();
    let imported = import_original(tensors, Some(16.0), &path).unwrap();
    let mut h = Hybrid::new(imported.config, imported.base, 0, device).unwrap();
    h.load_state(&imported.state).unwrap();
    let expected = infinito_checkpoint::load_tensors(
        &fixture!(format!("{name}_expected.safetensors")),
        None,
        device,
    )
    .unwrap();
    (h, expected)
}

/// Checks the logits (log-sum-exp and the first 64 columns) and every PHI component.
fn assert_outputs(
    out: &infinito_model::hybrid::HybridOutput,
    expected: &std::collections::HashMap<String, Tensor>,
) {
    let logits = out.logits().unwrap();
    let lse = logits.log_sum_exp(candle_core::D::Minus1).unwrap();
    assert!(max_abs_diff(&lse, &expected["logits_lse"]) < 1e-4);
    let head = logits.narrow(2, 0, 64).unwrap();
    assert!(max_abs_diff(&head, &expected["logits_head"]) < 1e-4);
    for (name, got) in out.phi.named() {
        let d = max_abs_diff(got, &expected[&format!("phi.{name}")]);
        assert!(d < 1e-4, "{name} differs by {d}");
    }
}

device_test!(
    an_original_checkpoint_imports_and_matches_its_evaluation_outputs,
    original_checkpoint_matches_on
);
fn original_checkpoint_matches_on(device: &Device) {
    let (mut h, expected) = original_fixture("original_hybrid", device);
    let config = h.config();
    assert_eq!(config.gpt2.n_head, 4);
    assert_eq!(config.gpt2.n_layer, 2);
    assert_eq!(config.memory_slots, 16);
    assert_eq!(config.lora.r, 4);
    let ids = expected["input_ids"].to_dtype(DType::U32).unwrap();
    let out = h.forward(&ids, Mode::Eval).unwrap();
    assert_outputs(&out, &expected);
}

device_test!(
    a_filled_memory_reads_out_as_pytorch_computes_it,
    filled_memory_matches_on
);
fn filled_memory_matches_on(device: &Device) {
    // tools/refgen/hybrid_memory_ref.py: the same checkpoint with 10 of 16 slots filled.
    let (mut h, expected) = original_fixture("original_hybrid_filled", device);
    assert_eq!(h.memory().filled(), 10);
    let ids = expected["input_ids"].to_dtype(DType::U32).unwrap();
    let out = h.forward(&ids, Mode::Eval).unwrap();
    let plain = h
        .gpt2()
        .forward(&ids, Mode::Eval, AttentionCapture::None, None)
        .unwrap()
        .hidden;
    // The read-out, recovered from the enhanced state at the first position.
    let readout = ((out.hidden.narrow(1, 0, 1).unwrap() - plain.narrow(1, 0, 1).unwrap()).unwrap()
        / 0.4)
        .unwrap()
        .squeeze(1)
        .unwrap();
    assert!(max_abs_diff(&readout, &expected["readout"]) < 1e-4);
    assert_outputs(&out, &expected);
}

#[test]
fn a_phase2_checkpoint_is_refused_with_a_clear_message() {
    use infinito_model::import::import_original;
    let mut tensors = std::collections::HashMap::new();
    tensors.insert(
        "iit_transformer.layers.0.ln1.weight".to_string(),
        Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap(),
    );
    let err = import_original(tensors, None, "phase2.pt".as_ref())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("phase2.pt") && err.contains("phase-2"),
        "{err}"
    );
}

/// L2 norm of a variable's gradient (0 when the graph does not reach it).
fn grad_norm(grads: &candle_core::backprop::GradStore, var: &candle_core::Var) -> f32 {
    grads.get(var.as_tensor()).map_or(0.0, |g| {
        g.sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            .sqrt()
    })
}

#[test]
fn the_band_term_is_zero_inside_and_squared_distance_outside() {
    let (ids, labels) = batch();
    let mut h = hybrid(1);
    let out = h.forward(&ids, Mode::Eval).unwrap();
    let band = |lo: f64, hi: f64| PhiObjective {
        loss: PhiLoss::Band,
        band: [lo, hi],
        ..objective(PhiGrad::Model)
    };
    let phi = hybrid_loss(&out, &labels, WEIGHTS, band(0.0, 10.0))
        .unwrap()
        .phi_mean;
    assert!(phi > 0.5 && phi < 9.5, "phi {phi}");
    let inside = hybrid_loss(&out, &labels, WEIGHTS, band(phi - 0.5, phi + 0.5)).unwrap();
    assert_eq!(inside.phi_loss, 0.0);
    let below = hybrid_loss(&out, &labels, WEIGHTS, band(phi + 1.0, phi + 2.0)).unwrap();
    assert!((below.phi_loss - 1.0).abs() < 1e-4, "{}", below.phi_loss);
    let above = hybrid_loss(&out, &labels, WEIGHTS, band(phi - 3.0, phi - 2.0)).unwrap();
    assert!((above.phi_loss - 4.0).abs() < 1e-3, "{}", above.phi_loss);
    let total: f32 = above.total.to_scalar().unwrap();
    assert!((total as f64 - (above.lm + 0.6 * 4.0)).abs() < 1e-3);
}

/// The PHI term alone (`w_text = 0`) with PHI outside the band sends a gradient into the
/// language-model path (LoRA) under `--phi-grad model`; inside the band it sends none.
#[test]
fn the_language_model_path_receives_the_band_terms_gradient() {
    let (ids, labels) = batch();
    let phi_only = LossWeights {
        text: 0.0,
        phi: 1.0,
    };
    let mut norms = Vec::new();
    for band in [[9.5, 10.0], [0.0, 10.0]] {
        let mut h = hybrid(1);
        let out = h.forward(&ids, Mode::Train { seed: 9 }).unwrap();
        let objective = PhiObjective {
            loss: PhiLoss::Band,
            band,
            ..objective(PhiGrad::Model)
        };
        let losses = hybrid_loss(&out, &labels, phi_only, objective).unwrap();
        let grads = losses.total.backward().unwrap();
        let lora: f32 = h
            .trainable_vars()
            .iter()
            .filter(|(n, _)| n.contains("lora_"))
            .map(|(_, v)| grad_norm(&grads, v))
            .sum();
        norms.push(lora);
    }
    assert!(
        norms[0] > 0.0,
        "below the band the LoRA weights get a gradient"
    );
    assert_eq!(norms[1], 0.0, "inside the band the PHI term is flat");
}
