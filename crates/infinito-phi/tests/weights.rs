//! State dicts (round trip, prefixes, errors), seeded init, modes and the defect-fix options.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use infinito_phi::{find_prefix, ComplexityNorm, LearnedPhi, PhiConfig, PhiError};
use std::collections::HashMap;

fn small_config() -> PhiConfig {
    let mut cfg = PhiConfig::new(12, 2);
    (
        cfg.temporal_dim,
        cfg.integration_dim,
        cfg.complexity_dim,
        cfg.diversity_dim,
    ) = (8, 16, 8, 8);
    cfg
}

fn seeded(cfg: PhiConfig, seed: u64) -> (LearnedPhi, VarMap) {
    let varmap = VarMap::new();
    let phi = LearnedPhi::new(
        cfg,
        VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
    )
    .unwrap();
    phi.init_seeded(seed).unwrap();
    (phi, varmap)
}

/// Deterministic values spread over about [-1.7, 1.7] (an xorshift stream), so that every run
/// of a test sees the same inputs.
fn spread(shape: (usize, usize, usize, usize), seed: u64) -> Tensor {
    let (d0, d1, d2, d3) = shape;
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let values: Vec<f32> = (0..d0 * d1 * d2 * d3)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 3.4
        })
        .collect();
    Tensor::from_vec(values, (d0, d1, d2, d3), &Device::Cpu).unwrap()
}

fn inputs(b: usize, t: usize, cfg: &PhiConfig) -> (Tensor, Tensor) {
    let x = spread((b, t, cfg.hidden_dim, 1), 1).squeeze(3).unwrap();
    let scores = spread((b, cfg.num_heads, t, t), 2);
    let a = candle_nn::ops::softmax_last_dim(&scores).unwrap();
    (x, a)
}

fn phi_values(phi: &LearnedPhi, x: &Tensor, a: &Tensor, train: bool) -> Vec<f32> {
    phi.forward(x, Some(a), train)
        .unwrap()
        .phi_estimate
        .to_vec1()
        .unwrap()
}

fn assert_close(a: &[f32], b: &[f32]) {
    let d = infinito_testutil::max_abs_diff_slices(a, b);
    assert!(d < 1e-5, "{a:?} vs {b:?}");
}

#[test]
fn state_dict_round_trips_with_and_without_prefix() {
    let cfg = small_config();
    let (phi, _) = seeded(cfg, 3);
    let (x, a) = inputs(3, 10, &cfg);
    phi.forward(&x, Some(&a), true).unwrap(); // moves the running statistics
    let want = phi_values(&phi, &x, &a, false);
    for prefix in ["", "iit_metrics."] {
        let mut sd = phi.state_dict(prefix).unwrap();
        sd.insert(
            "memory.threshold_logit".into(),
            Tensor::new(0f32, &Device::Cpu).unwrap(),
        );
        assert_eq!(find_prefix(&sd).unwrap(), prefix);
        assert_eq!(LearnedPhi::infer_config(&sd, prefix).unwrap(), cfg);
        let (back, _) = LearnedPhi::from_state_dict(&sd, None, &Device::Cpu).unwrap();
        assert_close(&phi_values(&back, &x, &a, false), &want);
        let counter = &back.state_dict("").unwrap()["complexity_net.bn2.num_batches_tracked"];
        assert_eq!(
            (counter.dtype(), counter.to_scalar::<i64>().unwrap()),
            (DType::I64, 1)
        );
    }
    let names: Vec<_> = phi.state_dict("").unwrap().into_keys().collect();
    for key in [
        "w_temporal",
        "temporal_net.layer_norm3.bias",
        "integration_net.transformer_layer.self_attn.in_proj_weight",
        "integration_net.transformer_layer.self_attn.out_proj.bias",
        "integration_net.attention_mlp.3.weight",
        "complexity_net.bn1.running_mean",
        "complexity_net.conv3.weight",
        "diversity_net.head_processors.1.2.weight",
        "diversity_net.output_mlp.2.bias",
    ] {
        assert!(names.iter().any(|n| n == key), "state dict lacks {key}");
    }
}

#[test]
fn weight_errors_name_the_key_and_the_expectation() {
    let cfg = small_config();
    let (phi, _) = seeded(cfg, 1);
    let mut sd = phi.state_dict("").unwrap();
    let before = phi.state_dict("").unwrap()["w_temporal"]
        .to_vec1::<f32>()
        .unwrap();

    sd.insert(
        "w_temporal".into(),
        Tensor::new(&[5f32], &Device::Cpu).unwrap(),
    );
    sd.remove("complexity_net.bn3.running_var");
    let err = phi.load_state_dict(&sd, "").unwrap_err();
    assert!(matches!(err, PhiError::MissingKey { .. }));
    assert_eq!(
        err.to_string(),
        "missing tensor `complexity_net.bn3.running_var` in the PHI weights"
    );
    // Nothing was changed by the failed load.
    assert_eq!(
        phi.state_dict("").unwrap()["w_temporal"]
            .to_vec1::<f32>()
            .unwrap(),
        before
    );

    let mut sd = phi.state_dict("").unwrap();
    sd.insert(
        "temporal_net.fc2.weight".into(),
        Tensor::zeros((8, 9), DType::F32, &Device::Cpu).unwrap(),
    );
    let err = phi.load_state_dict(&sd, "").unwrap_err().to_string();
    assert_eq!(
        err,
        "tensor `temporal_net.fc2.weight` has shape [8, 9], expected [8, 8]"
    );

    let empty: HashMap<String, Tensor> = HashMap::new();
    assert!(matches!(find_prefix(&empty), Err(PhiError::NoWeights(_))));
    let mut two = phi.state_dict("a.").unwrap();
    two.extend(phi.state_dict("b.").unwrap());
    assert!(matches!(
        find_prefix(&two),
        Err(PhiError::AmbiguousPrefix(_))
    ));
}

#[test]
fn constant_parameters_cannot_be_overwritten() {
    let cfg = small_config();
    let (phi, _) = seeded(cfg, 1);
    let sd = phi.state_dict("").unwrap();
    let frozen = LearnedPhi::new(
        cfg,
        VarBuilder::from_tensors(sd.clone(), DType::F32, &Device::Cpu),
    )
    .unwrap();
    assert!(matches!(
        frozen.load_state_dict(&sd, ""),
        Err(PhiError::Constant(_))
    ));
}

#[test]
fn seeded_init_is_reproducible_and_pytorch_like() {
    let cfg = small_config();
    let (a, _) = seeded(cfg, 42);
    let (b, _) = seeded(cfg, 42);
    let (c, _) = seeded(cfg, 43);
    let (sa, sb, sc) = (
        a.state_dict("").unwrap(),
        b.state_dict("").unwrap(),
        c.state_dict("").unwrap(),
    );
    let key = "integration_net.input_proj.weight";
    let va = sa[key].flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(va, sb[key].flatten_all().unwrap().to_vec1::<f32>().unwrap());
    assert_ne!(va, sc[key].flatten_all().unwrap().to_vec1::<f32>().unwrap());
    let bound = 1.0 / (cfg.hidden_dim as f32).sqrt();
    assert!(va.iter().all(|v| v.abs() <= bound));
    assert_eq!(
        sa["temporal_net.layer_norm1.weight"]
            .to_vec1::<f32>()
            .unwrap(),
        vec![1.0; 8]
    );
    assert_eq!(
        sa["integration_net.transformer_layer.self_attn.in_proj_bias"]
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap(),
        0.0
    );
}

#[test]
fn train_mode_dropout_is_seeded_and_eval_is_deterministic() {
    let cfg = small_config();
    let (phi, _) = seeded(cfg, 5);
    let (x, a) = inputs(4, 9, &cfg);
    assert_eq!(
        phi_values(&phi, &x, &a, false),
        phi_values(&phi, &x, &a, false)
    );
    // Train mode normalises with batch statistics, so only the dropout masks vary between calls.
    phi.set_dropout_seed(11);
    let first = phi_values(&phi, &x, &a, true);
    assert_ne!(
        first,
        phi_values(&phi, &x, &a, true),
        "each call draws new masks"
    );
    phi.set_dropout_seed(11);
    assert_eq!(
        first,
        phi_values(&phi, &x, &a, true),
        "the same seed gives the same masks"
    );
}

#[test]
fn missing_attention_gives_zero_diversity_on_the_input_device() {
    let cfg = small_config();
    let (phi, _) = seeded(cfg, 2);
    let (x, _) = inputs(5, 7, &cfg);
    let out = phi.forward(&x, None, false).unwrap();
    assert_eq!(
        out.attention_diversity.to_vec1::<f32>().unwrap(),
        vec![0.0; 5]
    );
    assert!(out.attention_diversity.device().same_device(x.device()));
    for (_, t) in out.named() {
        assert_eq!(t.dims(), &[5]);
    }
}

#[test]
fn per_sample_norm_makes_a_sample_independent_of_its_batch() {
    let mut cfg = small_config();
    cfg.dropout = 0.0;
    let (x, a) = inputs(4, 9, &cfg);
    let first = |phi: &LearnedPhi, b: usize| -> f32 {
        let out = phi
            .forward(
                &x.narrow(0, 0, b).unwrap(),
                Some(&a.narrow(0, 0, b).unwrap()),
                true,
            )
            .unwrap();
        out.complexity.to_vec1::<f32>().unwrap()[0]
    };
    let (batch, _) = seeded(cfg, 9);
    assert!(
        (first(&batch, 4) - first(&batch, 2)).abs() > 1e-6,
        "BatchNorm mixes the batch"
    );
    cfg.complexity_norm = ComplexityNorm::PerSample;
    let (per_sample, _) = seeded(cfg, 9);
    assert!((first(&per_sample, 4) - first(&per_sample, 2)).abs() < 1e-6);
    // Running statistics are left alone.
    let counter = &per_sample.state_dict("").unwrap()["complexity_net.bn1.num_batches_tracked"];
    assert_eq!(counter.to_scalar::<i64>().unwrap(), 0);
}

#[test]
fn bad_inputs_are_rejected_with_clear_messages() {
    let cfg = small_config();
    let (phi, _) = seeded(cfg, 2);
    let (x, a) = inputs(2, 6, &cfg);
    let msg = |r: candle_core::Result<_>| {
        r.err()
            .map(|e: candle_core::Error| e.to_string())
            .unwrap_or_default()
    };
    let wrong_d = Tensor::zeros((2, 6, 5), DType::F32, &Device::Cpu).unwrap();
    assert!(msg(phi.forward(&wrong_d, None, false))
        .contains("hidden_state has D = 5, the weights expect 12"));
    assert!(
        msg(phi.forward(&x, Some(&a.narrow(1, 0, 1).unwrap()), false))
            .contains("attention_weights must be [2, 2, 6, 6]")
    );
    let single = x.narrow(0, 0, 1).unwrap().narrow(1, 0, 1).unwrap();
    assert!(msg(phi.forward(&single, None, true)).contains("more than one value per channel"));
    assert!(phi.forward(&single, None, false).is_ok());
    let mut bad = cfg;
    bad.integration_dim = 10;
    let err = LearnedPhi::new(bad, VarBuilder::zeros(DType::F32, &Device::Cpu))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("integration_dim 10 must be divisible by 4"),
        "{err}"
    );
}
