//! The exploration noise: its distribution (mean 0, standard deviation 1 before scaling,
//! reproducible per seed and independent across seeds), its size in the hybrid
//! (0.4 · noise scale), and that evaluation never adds it.

use candle_core::{Device, Tensor};
use infinito_model::gpt2::AttentionCapture;
use infinito_model::hybrid::{Hybrid, HybridConfig, NOISE_NAME};
use infinito_model::nn::seeded_normal;
use infinito_model::pretrained::random_weights;
use infinito_model::{Gpt2Config, LoraConfig, Mode};
use infinito_phi::PhiConfig;

fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let ((ma, sa), (mb, sb)) = (mean_std(a), mean_std(b));
    let cov = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - ma) * (y - mb))
        .sum::<f64>()
        / a.len() as f64;
    cov / (sa * sb)
}

#[test]
fn seeded_normal_is_standard_normal_and_seed_dependent() {
    let n = 200_000;
    let shape = Tensor::zeros((n,), candle_core::DType::F32, &Device::Cpu).unwrap();
    let a = values(&seeded_normal(&shape, 11).unwrap());
    let (mean, std) = mean_std(&a);
    // Standard errors: 1/√n ≈ 0.0022 for the mean, 1/√(2n) ≈ 0.0016 for the std.
    assert!(mean.abs() < 0.01, "mean {mean}");
    assert!((std - 1.0).abs() < 0.01, "std {std}");
    let within_one = a.iter().filter(|x| x.abs() < 1.0).count() as f64 / n as f64;
    assert!(
        (within_one - 0.682_689).abs() < 0.005,
        "P(|z|<1) {within_one}"
    );
    let within_two = a.iter().filter(|x| x.abs() < 2.0).count() as f64 / n as f64;
    assert!(
        (within_two - 0.954_500).abs() < 0.003,
        "P(|z|<2) {within_two}"
    );
    assert_eq!(a, values(&seeded_normal(&shape, 11).unwrap()), "same seed");
    let b = values(&seeded_normal(&shape, 12).unwrap());
    assert!(
        correlation(&a, &b).abs() < 0.01,
        "seeds 11 and 12 correlate"
    );
}

/// A tiny hybrid without dropout, so that training mode differs from evaluation only by the
/// noise (and the memory write after the forward).
fn hybrid() -> Hybrid {
    let mut gpt2 = Gpt2Config::new(97, 32, 32, 2, 4);
    gpt2.resid_pdrop = 0.0;
    gpt2.embd_pdrop = 0.0;
    gpt2.attn_pdrop = 0.0;
    let config = HybridConfig {
        phi: PhiConfig::new(gpt2.n_embd, gpt2.n_head),
        lora: LoraConfig::new(4, 16.0, 0.0),
        memory_slots: 8,
        train_base: false,
        gpt2,
    };
    let base = random_weights(&config.gpt2, 3, &Device::Cpu).unwrap();
    Hybrid::new(config, base, 5, &Device::Cpu).unwrap()
}

fn ids() -> Tensor {
    let ids: Vec<u32> = (0..4 * 16).map(|i| (i * 31 % 97) as u32).collect();
    Tensor::from_vec(ids, (4, 16), &Device::Cpu).unwrap()
}

/// The hidden state of the GPT-2 inside, without memory or noise.
fn plain_hidden(h: &Hybrid) -> Tensor {
    h.gpt2()
        .forward(&ids(), Mode::Eval, AttentionCapture::None, None)
        .unwrap()
        .hidden
}

#[test]
fn training_adds_scaled_noise_and_evaluation_none() {
    let plain = values(&plain_hidden(&hybrid()));
    let added = |seed: u64| -> Vec<f64> {
        // A fresh model each time: the memory is empty, so the read-out is zero.
        let out = hybrid().forward(&ids(), Mode::Train { seed }).unwrap();
        values(&out.hidden)
            .iter()
            .zip(&plain)
            .map(|(e, p)| e - p)
            .collect()
    };
    let a = added(1);
    let (mean, std) = mean_std(&a);
    // 2048 draws of 0.4 · 0.1 · N(0, 1): std 0.04, standard error of the mean ≈ 0.0009.
    assert!(mean.abs() < 0.004, "mean {mean}");
    assert!((std - 0.04).abs() < 0.003, "std {std}");
    assert_eq!(a, added(1), "the same seed draws the same noise");
    assert!(correlation(&a, &added(2)).abs() < 0.1);

    let eval = hybrid().forward(&ids(), Mode::Eval).unwrap();
    assert_eq!(values(&eval.hidden), plain, "evaluation added something");
}

#[test]
fn evaluation_with_a_filled_memory_adds_only_the_readout() {
    let mut h = hybrid();
    for seed in 0..3 {
        h.forward(&ids(), Mode::Train { seed }).unwrap();
    }
    assert!(h.memory().utilization() > 0.0, "training wrote nothing");
    // A huge noise scale would show at once if evaluation drew any noise.
    let (_, scale) = h
        .trainable_vars()
        .into_iter()
        .find(|(name, _)| name == NOISE_NAME)
        .unwrap();
    scale
        .set(&Tensor::new(100.0f32, &Device::Cpu).unwrap())
        .unwrap();
    let out = h.forward(&ids(), Mode::Eval).unwrap();
    let plain = plain_hidden(&h);
    let added = (out.hidden - plain).unwrap().to_vec3::<f32>().unwrap();
    for sample in &added {
        // The read-out is one vector per sequence, the same at every position.
        for position in sample {
            for (x, first) in position.iter().zip(&sample[0]) {
                assert!((x - first).abs() < 1e-6);
            }
        }
        assert!(sample[0].iter().any(|x| x.abs() > 1e-6), "no read-out");
        assert!(
            sample[0].iter().all(|x| x.abs() < 10.0),
            "noise in evaluation"
        );
    }
}
