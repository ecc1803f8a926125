//! Golden multi-step test: ten training steps of the tiny GPT-2 + LoRA (fused chunked LM loss,
//! frozen-weight linear layers, AdamW, gradient clipping at 1.0) against transformers + peft
//! running the same ten steps on the same batches (fixture from tools/refgen/golden_steps_ref.py).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use infinito_model::gpt2::AttentionCapture;
use infinito_model::{lora, LoraConfig, Mode, Pretrained};
use infinito_train::{clip_grad_norm, AdamW, AdamWConfig};

const STEPS: usize = 10;

fn model_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../infinito-model/tests/fixtures")
}

#[test]
fn ten_lora_steps_match_torch_and_peft() {
    let device = Device::Cpu;
    let reference = infinito_checkpoint::load_tensors(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden_steps.safetensors"),
        None,
        &device,
    )
    .unwrap();
    let dir = model_fixtures();
    let mut lora_config =
        LoraConfig::from_file(&dir.join("tiny-lora/adapter_config.json")).unwrap();
    lora_config.lora_dropout = 0.0;
    let weights = dir.join("tiny-gpt2/model.safetensors");
    let tensors = infinito_model::pretrained::normalize_names(
        infinito_checkpoint::load_tensors(&weights, None, &device).unwrap(),
    )
    .unwrap();
    let config = infinito_model::Gpt2Config::from_file(&dir.join("tiny-gpt2/config.json")).unwrap();
    let p =
        Pretrained::from_tensors(&config, tensors, Some(lora_config), &device, &weights).unwrap();
    let adapter = p.adapter.as_ref().unwrap();
    lora::load_adapter_weights(&adapter.varmap, &dir.join("tiny-lora"), &device).unwrap();
    let params = adapter.trainable_vars();
    let mut opt = AdamW::new(
        params.clone(),
        AdamWConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        },
    )
    .unwrap();

    let want_losses: Vec<f32> = reference["loss"].to_vec1().unwrap();
    let want_norms: Vec<f32> = reference["grad_norm"].to_vec1().unwrap();
    for step in 0..STEPS {
        let batch = reference[&format!("batch.{step}")]
            .to_dtype(DType::U32)
            .unwrap();
        let t = batch.dim(1).unwrap() - 1;
        let input = batch.narrow(1, 0, t).unwrap();
        let labels = batch.narrow(1, 1, t).unwrap();
        let out = p
            .model
            .forward(
                &input,
                Mode::Train { seed: step as u64 },
                AttentionCapture::None,
                None,
            )
            .unwrap();
        let loss = p.model.lm_loss(&out.hidden, &labels).unwrap();
        let got = loss.to_scalar::<f32>().unwrap();
        let rel = ((got - want_losses[step]) / want_losses[step]).abs();
        assert!(
            rel < 1e-5,
            "step {step}: loss {got} against torch's {} (relative {rel})",
            want_losses[step]
        );
        let mut grads = loss.backward().unwrap();
        let norm = clip_grad_norm(&mut grads, &params, 1.0).unwrap();
        let rel = ((norm as f32 - want_norms[step]) / want_norms[step]).abs();
        assert!(
            rel < 1e-4,
            "step {step}: gradient norm {norm} against torch's {}",
            want_norms[step]
        );
        opt.step(&grads).unwrap();
    }
    for (name, var) in &params {
        let want = &reference[&format!("final.{name}")];
        let diff = (var.as_tensor() - want)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-5, "{name} after {STEPS} steps differs by {diff}");
    }
}
