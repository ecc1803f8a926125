//! Times one workload of the training comparison (tools/bench/compare_training.py) in its own
//! process, so that its peak RSS is its own: GPT-2 small shapes, random weights, B=4 T=128.
//!
//! ```text
//! training_workloads WORKLOAD [STEPS]
//!   eval     evaluation forward with the last layer's attention, and the logits
//!   lora     LoRA r=8 training step: forward, chunked LM loss, backward, clipping, AdamW
//!   hybrid   hybrid step (memory 256, PHI 768/12, loss LM + 0.6 (6 - mean PHI) with its gradient)
//!   phi_B4_T128, phi_B16_T256   PHI kernel forward + backward in train mode
//!   gemm     the 512x768 by 768x3072 product (the ceiling, reported as GFLOP/s)
//! ```
//!
//! Prints one JSON object: the workload, candle's thread count, every timed call in seconds
//! (after one warm-up call) and the peak RSS in GB.

use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};
use infinito_benches::BenchDevice;
use infinito_model::gpt2::AttentionCapture;
use infinito_model::hybrid::{Hybrid, HybridConfig};
use infinito_model::loss::{hybrid_loss, LossWeights, PhiGrad, PhiLoss, PhiObjective};
use infinito_model::pretrained::random_weights;
use infinito_model::{Gpt2Config, LoraConfig, Mode, Pretrained};
use infinito_phi::{LearnedPhi, PhiConfig};
use infinito_train::{clip_grad_norm, AdamW, AdamWConfig};

const BATCH: usize = 4;
const SEQ: usize = 128;

/// One call of a workload.
type Call = Box<dyn FnMut(u64) -> Result<()>>;

fn tokens(device: &Device) -> Result<(Tensor, Tensor)> {
    let ids: Vec<u32> = (0..BATCH * (SEQ + 1))
        .map(|i| (i as u32 * 7919) % 50257)
        .collect();
    let ids = Tensor::from_vec(ids, (BATCH, SEQ + 1), device)?;
    Ok((
        ids.narrow(1, 0, SEQ)?.contiguous()?,
        ids.narrow(1, 1, SEQ)?.contiguous()?,
    ))
}

fn adamw(params: Vec<(String, candle_core::Var)>) -> AdamW {
    let config = AdamWConfig {
        lr: 2e-4,
        beta1: 0.9,
        beta2: 0.98,
        eps: 1e-8,
        weight_decay: 0.01,
    };
    AdamW::new(params, config).expect("valid AdamW settings")
}

/// Backward, clipping at 1.0 and AdamW, as the trainer does.
fn update(loss: &Tensor, opt: &mut AdamW) -> Result<()> {
    let mut grads = loss.backward()?;
    let params = opt.params().to_vec();
    clip_grad_norm(&mut grads, &params, 1.0).map_err(candle_core::Error::wrap)?;
    opt.step(&grads).map_err(candle_core::Error::wrap)
}

fn gpt2(device: &Device) -> Result<Pretrained> {
    let config = Gpt2Config::gpt2_small();
    let weights = random_weights(&config, 0, device).map_err(candle_core::Error::wrap)?;
    let lora = LoraConfig::new(8, 32.0, 0.1);
    Pretrained::from_tensors(&config, weights, Some(lora), device, Path::new("random"))
        .map_err(candle_core::Error::wrap)
}

fn workload(name: &str, device: &Device) -> Result<Call> {
    let (input, labels) = tokens(device)?;
    Ok(match name {
        "eval" => {
            let p = gpt2(device)?;
            Box::new(move |_| {
                let out = p
                    .model
                    .forward(&input, Mode::Eval, AttentionCapture::Last, None)?;
                p.model.lm_head(&out.hidden)?;
                Ok(())
            })
        }
        "lora" => {
            let p = gpt2(device)?;
            let params = p.adapter.as_ref().expect("adapter").trainable_vars();
            let mut opt = adamw(params);
            Box::new(move |step| {
                let mode = Mode::Train { seed: step };
                let out = p
                    .model
                    .forward(&input, mode, AttentionCapture::Last, None)?;
                update(&p.model.lm_loss(&out.hidden, &labels)?, &mut opt)
            })
        }
        "hybrid" => {
            let config = HybridConfig {
                gpt2: Gpt2Config::gpt2_small(),
                lora: LoraConfig::new(8, 32.0, 0.1),
                memory_slots: 256,
                phi: PhiConfig::new(768, 12),
                train_base: false,
            };
            let base = random_weights(&config.gpt2, 0, device).map_err(candle_core::Error::wrap)?;
            let mut hybrid =
                Hybrid::new(config, base, 0, device).map_err(candle_core::Error::wrap)?;
            let mut opt = adamw(hybrid.trainable_vars());
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
            Box::new(move |step| {
                let out = hybrid
                    .forward(&input, Mode::Train { seed: step })
                    .map_err(candle_core::Error::wrap)?;
                let losses = hybrid_loss(&out, &labels, weights, objective)
                    .map_err(candle_core::Error::wrap)?;
                update(&losses.total, &mut opt)
            })
        }
        "phi_B4_T128" => phi(4, 128, device)?,
        "phi_B16_T256" => phi(16, 256, device)?,
        "gemm" => {
            let a = Tensor::randn(0f32, 1.0, (BATCH * SEQ, 768), device)?;
            let b = Tensor::randn(0f32, 1.0, (768, 3072), device)?;
            Box::new(move |_| {
                a.matmul(&b)?;
                Ok(())
            })
        }
        other => candle_core::bail!(
            "unknown workload {other:?}: expected eval, lora, hybrid, phi_B4_T128, phi_B16_T256 or gemm"
        ),
    })
}

/// The learned PHI at D=768, H=12: train-mode forward and the backward of mean PHI.
fn phi(b: usize, t: usize, device: &Device) -> Result<Call> {
    let varmap = VarMap::new();
    let phi = LearnedPhi::new(
        PhiConfig::new(768, 12),
        VarBuilder::from_varmap(&varmap, DType::F32, device),
    )
    .map_err(candle_core::Error::wrap)?;
    phi.init_seeded(0).map_err(candle_core::Error::wrap)?;
    let x = Tensor::randn(0f32, 1.0, (b, t, 768), device)?;
    let causal = Tensor::tril2(t, DType::F32, device)?;
    let scores = Tensor::randn(0f32, 2.0, (b, 12, t, t), device)?;
    let a = candle_nn::ops::softmax_last_dim(&scores.broadcast_add(&((causal - 1.0)? * 1e9)?)?)?;
    Ok(Box::new(move |_| {
        let out = phi
            .forward(&x, Some(&a), true)
            .map_err(candle_core::Error::wrap)?;
        out.phi_estimate.mean_all()?.backward()?;
        Ok(())
    }))
}

/// The process's peak resident set size in GB (Linux), or NaN where unknown.
fn peak_rss_gb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0 / 1024.0)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(name) = args.first() else {
        eprintln!("usage: training_workloads WORKLOAD [STEPS]");
        std::process::exit(2);
    };
    let steps: u64 = match args.get(1).map(|s| s.parse()) {
        None => 3,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("training_workloads: STEPS must be a positive integer");
            std::process::exit(2);
        }
    };
    let device = infinito_benches::bench_device();
    let mut call = workload(name, &device)?;
    call(0)?;
    device.sync()?;
    let mut times = Vec::new();
    for step in 1..=steps {
        let start = Instant::now();
        call(step)?;
        device.sync()?;
        times.push(start.elapsed().as_secs_f64());
    }
    let times: Vec<String> = times.iter().map(|t| format!("{t:.6}")).collect();
    println!(
        "{{\"side\": \"ours\", \"workload\": \"{name}\", \"device\": \"{}\", \"threads\": {}, \"times_s\": [{}], \"peak_rss_gb\": {:.4}}}",
        device.bench_name(),
        candle_core::utils::get_num_threads(),
        times.join(", "),
        peak_rss_gb()
    );
    Ok(())
}
