//! Scores your own hidden states with the learned PHI (the original's ImprovedIITMetricsV2) and
//! with Gaussian integrated information (Phi_SI, Phi_MI, Phi* across the minimum information
//! bipartition).
//!
//! `cargo run --release -p infinito-examples --example score_phi`
//!
//! Here the "hidden states" are a synthetic autoregressive process; in your code they are any
//! `[batch, tokens, width]` f32 tensor (and optionally `[batch, heads, tokens, tokens]`
//! attention maps), e.g. a transformer layer's output.

use anyhow::Result;
use candle_core::{DType, Device, Tensor, D};
use candle_nn::{VarBuilder, VarMap};
use infinito_phi::gaussian::{gaussian_phi, GaussianOptions};
use infinito_phi::{LearnedPhi, PhiConfig};

fn main() -> Result<()> {
    let device = Device::Cpu;
    let (batch, tokens, width, heads) = (4, 48, 32, 4);

    // Hidden states with memory across tokens: h_t = 0.8 h_(t-1) + noise.
    let noise = Tensor::randn(0f32, 1.0, (batch, tokens, width), &device)?;
    let mut rows = vec![noise.narrow(1, 0, 1)?];
    for t in 1..tokens {
        let next = ((rows[t - 1].clone() * 0.8)? + noise.narrow(1, t, 1)?)?;
        rows.push(next);
    }
    let hidden = Tensor::cat(&rows, 1)?;
    // Attention maps: a softmax over random scores, as a layer would produce.
    let scores = Tensor::randn(0f32, 1.0, (batch, heads, tokens, tokens), &device)?;
    let attention = candle_nn::ops::softmax(&scores, D::Minus1)?;

    // The learned PHI, freshly initialised (load trained weights with a tensor-backed
    // VarBuilder instead, e.g. `VarBuilder::from_mmaped_safetensors`).
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let phi = LearnedPhi::new(PhiConfig::new(width, heads), vb)?;
    let components = phi.forward(&hidden, Some(&attention), false)?;
    for (name, values) in components.named() {
        println!("{name:<22} {:?}", values.to_vec1::<f32>()?);
    }

    // Gaussian integrated information of the same states, 6 principal-component channels.
    let options = GaussianOptions {
        channels: 6,
        phi_g: false,
        ..GaussianOptions::default()
    };
    let report = gaussian_phi(&hidden, &options)?;
    println!(
        "Gaussian: Phi_SI {:.4}  Phi_MI {:.4}  Phi* {:.4} nats across the bipartition {:?}",
        report.phi_si, report.phi_mi, report.phi_star.value, report.mib.partition
    );
    Ok(())
}
