//! Writes GPT-2 small with random weights as a Hugging Face model directory (`config.json` +
//! `model.safetensors`), for runs that need the real size but no download, such as
//! `tools/gpu-check.sh`.
//!
//! `cargo run --release --example random_gpt2 -- DIR`

use std::path::PathBuf;

use anyhow::Context;
use candle_core::Device;
use infinito_model::pretrained::random_weights;
use infinito_model::Gpt2Config;

fn main() -> anyhow::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).context("usage: random_gpt2 DIR")?);
    let config = Gpt2Config::gpt2_small();
    let weights = random_weights(&config, 0, &Device::Cpu)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    infinito_checkpoint::save_json(&dir.join("config.json"), &config)?;
    infinito_checkpoint::save_tensors(&dir.join("model.safetensors"), &weights, None)?;
    println!("GPT-2 small with random weights in {}", dir.display());
    Ok(())
}
