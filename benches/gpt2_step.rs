//! GPT-2 small (12 layers, 768 wide, 12 heads, vocabulary 50257, random init) with LoRA r=8 on
//! c_attn / attn.c_proj / mlp.c_proj, batch 4 x 128 tokens: one evaluation forward (logits and the
//! last layer's attention probabilities) and one training step (train-mode forward with the last
//! layer's attention, cross-entropy, backward, AdamW on the LoRA matrices); and one training step
//! of the hybrid on the same GPT-2 (memory of 256 slots, learned PHI at D=768, H=12; loss
//! `LM + 0.6 (6 - mean PHI)` with its gradient everywhere, AdamW on every trainable variable).
//! The training steps take the chunked LM loss (no full logits). Bench ids name the device, and
//! each call waits for it.

use std::path::Path;
use std::time::Duration;

use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use criterion::{criterion_group, criterion_main, Criterion};
use infinito_benches::{bench_device, synced, BenchDevice};
use infinito_model::gpt2::AttentionCapture;
use infinito_model::hybrid::{Hybrid, HybridConfig};
use infinito_model::loss::{hybrid_loss, LossWeights, PhiGrad, PhiLoss, PhiObjective};
use infinito_model::pretrained::random_weights;
use infinito_model::{Gpt2Config, LoraConfig, Mode, Pretrained};
use infinito_phi::PhiConfig;

const BATCH: usize = 4;
const SEQ: usize = 128;

fn setup(device: &Device) -> (Pretrained, Tensor, Tensor) {
    let config = Gpt2Config::gpt2_small();
    let weights = random_weights(&config, 0, device).unwrap();
    let lora = LoraConfig::new(8, 32.0, 0.1);
    let model = Pretrained::from_tensors(&config, weights, Some(lora), device, Path::new("random"))
        .unwrap();
    let ids: Vec<u32> = (0..BATCH * (SEQ + 1))
        .map(|i| (i as u32 * 7919) % 50257)
        .collect();
    let ids = Tensor::from_vec(ids, (BATCH, SEQ + 1), device).unwrap();
    let input = ids.narrow(1, 0, SEQ).unwrap().contiguous().unwrap();
    let labels = ids.narrow(1, 1, SEQ).unwrap().contiguous().unwrap();
    (model, input, labels)
}

fn bench(c: &mut Criterion) {
    let device = bench_device();
    let (p, input, labels) = setup(&device);
    let mut group = c.benchmark_group(format!("gpt2_small_lora_b4_t128_{}", device.bench_name()));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(40));
    group.bench_function("forward_eval", |b| {
        b.iter(|| {
            let out = p
                .model
                .forward(&input, Mode::Eval, AttentionCapture::Last, None)
                .unwrap();
            synced(p.model.lm_head(&out.hidden).unwrap())
        })
    });
    let vars = p
        .adapter
        .as_ref()
        .unwrap()
        .trainable_vars()
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    let params = ParamsAdamW {
        lr: 2e-4,
        beta1: 0.9,
        beta2: 0.98,
        eps: 1e-8,
        weight_decay: 0.01,
    };
    let mut opt = AdamW::new(vars, params.clone()).unwrap();
    group.bench_function("train_step", |b| {
        b.iter(|| {
            let out = p
                .model
                .forward(
                    &input,
                    Mode::Train { seed: 7 },
                    AttentionCapture::Last,
                    None,
                )
                .unwrap();
            let loss = p.model.lm_loss(&out.hidden, &labels).unwrap();
            opt.backward_step(&loss).unwrap();
            device.sync().unwrap();
            out.attentions
        })
    });
    group.bench_function("hybrid_train_step", |b| {
        let config = HybridConfig {
            gpt2: Gpt2Config::gpt2_small(),
            lora: LoraConfig::new(8, 32.0, 0.1),
            memory_slots: 256,
            phi: PhiConfig::new(768, 12),
            train_base: false,
        };
        let base = random_weights(&config.gpt2, 0, &device).unwrap();
        let mut hybrid = Hybrid::new(config, base, 0, &device).unwrap();
        let vars = hybrid
            .trainable_vars()
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        let mut opt = AdamW::new(vars, params.clone()).unwrap();
        let weights = LossWeights {
            text: 1.0,
            phi: 0.6,
        };
        let objective = PhiObjective {
            loss: PhiLoss::Linear,
            grad: PhiGrad::All,
            target: 6.0,
            band: [3.0, 6.0],
        };
        let mut step = 0;
        b.iter(|| {
            step += 1;
            let out = hybrid.forward(&input, Mode::Train { seed: step }).unwrap();
            let losses = hybrid_loss(&out, &labels, weights, objective).unwrap();
            opt.backward_step(&losses.total).unwrap();
            device.sync().unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
