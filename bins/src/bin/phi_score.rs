//! `phi_score`: scores saved activations with the learned PHI (or the statistical measures).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use clap::{Parser, ValueEnum};
use infinito::{device, input_error, report};
use infinito_phi::{statistical, AttentionFeatures, ComplexityNorm, LearnedPhi, PhiConfig};

/// Scores hidden states `<prefix>hidden_state` [B,T,D] (and optional attention maps
/// `<prefix>attention_weights` [B,H,T,T]) read from a safetensors file: the learned PHI in eval
/// mode, or the parameter-free statistical measures.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// PHI weights: safetensors or PyTorch .pt state dict (a bare PHI state dict, or a hybrid
    /// model's with the `iit_metrics.` prefix, possibly inside `model_state_dict`). Without it, a
    /// seeded random initialisation is used (with a warning).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Safetensors file with the activations.
    #[arg(long)]
    input: PathBuf,
    /// Prefix of the tensor names in --input.
    #[arg(long, default_value = "")]
    prefix: String,
    /// Prefix of the PHI weights in --weights (found automatically when there is one set).
    #[arg(long)]
    weights_prefix: Option<String>,
    /// What to compute.
    #[arg(long, value_enum, default_value_t = Measure::Learned)]
    measure: Measure,
    /// Normalisation of the complexity net (learned PHI).
    #[arg(long, value_enum, default_value_t = NormArg::Batch)]
    complexity_norm: NormArg,
    /// Attention features of the integration net (learned PHI).
    #[arg(long, value_enum, default_value_t = FeaturesArg::Mean)]
    attention_features: FeaturesArg,
    /// Perplexity of the scored text (statistical measures: scales PHI by min(5, max(1, 300/ppl))).
    #[arg(long)]
    perplexity: Option<f64>,
    /// Seed of the random initialisation used without --weights.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object of per-sample arrays instead of a table.
    #[arg(long)]
    json: bool,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Measure {
    /// The learned PHI ("ImprovedIITMetricsV2").
    Learned,
    /// The parameter-free statistical measures.
    Statistical,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum NormArg {
    /// BatchNorm with running statistics (original).
    Batch,
    /// Per-sample normalisation.
    PerSample,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FeaturesArg {
    /// Mean attention per head (original).
    Mean,
    /// Normalised row entropy per head.
    Entropy,
}

/// The activations to score.
struct Input {
    hidden: Tensor,
    attention: Option<Tensor>,
}

fn read_input(path: &Path, prefix: &str, device: &Device) -> anyhow::Result<Input> {
    let mut tensors = infinito_checkpoint::load_tensors(path, None, device)
        .map_err(|e| input_error!("--input: {e}"))?;
    let mut take = |name: &str| -> anyhow::Result<Option<Tensor>> {
        let key = format!("{prefix}{name}");
        tensors
            .remove(&key)
            .map(|t| {
                t.to_dtype(DType::F32)
                    .with_context(|| format!("converting `{key}`"))
            })
            .transpose()
    };
    let hidden = take("hidden_state")?.ok_or_else(|| {
        input_error!(
            "--input {}: no tensor `{prefix}hidden_state` (use --prefix to select a group)",
            path.display()
        )
    })?;
    let attention = take("attention_weights")?;
    if hidden.rank() != 3 {
        return Err(input_error!(
            "--input {}: `{prefix}hidden_state` must be [B, T, D], got {:?}",
            path.display(),
            hidden.dims()
        ));
    }
    Ok(Input { hidden, attention })
}

fn learned_phi(
    args: &Args,
    input: &Input,
    device: &Device,
) -> anyhow::Result<(LearnedPhi, VarMap)> {
    let adjust = |cfg: &mut PhiConfig| {
        cfg.complexity_norm = match args.complexity_norm {
            NormArg::Batch => ComplexityNorm::BatchNorm,
            NormArg::PerSample => ComplexityNorm::PerSample,
        };
        cfg.attention_features = match args.attention_features {
            FeaturesArg::Mean => AttentionFeatures::MeanAttention,
            FeaturesArg::Entropy => AttentionFeatures::Entropy,
        };
    };
    let Some(path) = &args.weights else {
        let heads = input.attention.as_ref().map_or(12, |a| a.dims()[1]);
        let mut cfg = PhiConfig::new(input.hidden.dims()[2], heads);
        adjust(&mut cfg);
        eprintln!(
            "warning: no --weights given: scoring with a random initialisation (seed {})",
            args.seed
        );
        let varmap = VarMap::new();
        let phi = LearnedPhi::new(cfg, VarBuilder::from_varmap(&varmap, DType::F32, device))?;
        phi.init_seeded(args.seed)?;
        return Ok((phi, varmap));
    };
    let tensors: HashMap<String, Tensor> = infinito_checkpoint::load_tensors(path, None, device)
        .map_err(|e| input_error!("--weights: {e}"))?;
    let weights_error =
        |e: infinito_phi::PhiError| input_error!("--weights {}: {e}", path.display());
    let prefix = match &args.weights_prefix {
        Some(p) => p.clone(),
        None => infinito_phi::find_prefix(&tensors).map_err(weights_error)?,
    };
    let mut cfg = LearnedPhi::infer_config(&tensors, &prefix).map_err(weights_error)?;
    adjust(&mut cfg);
    LearnedPhi::from_config_and_state_dict(cfg, &tensors, &prefix, device).map_err(weights_error)
}

fn to_vec(t: &Tensor) -> anyhow::Result<Vec<f32>> {
    Ok(t.to_dtype(DType::F32)?
        .to_device(&Device::Cpu)?
        .to_vec1::<f32>()?)
}

fn run(args: Args) -> anyhow::Result<()> {
    let device = device(&args.device)?;
    let input = read_input(&args.input, &args.prefix, &device)?;
    let named: Vec<(&'static str, Vec<f32>)> = match args.measure {
        Measure::Learned => {
            let (phi, _varmap) = learned_phi(&args, &input, &device)?;
            let out = phi
                .forward(&input.hidden, input.attention.as_ref(), false)
                .map_err(|e| input_error!("--input {}: {e}", args.input.display()))?;
            out.named()
                .iter()
                .map(|(n, t)| Ok((*n, to_vec(t)?)))
                .collect::<anyhow::Result<_>>()?
        }
        Measure::Statistical => {
            if let Some(a) = &input.attention {
                let (b, _, t, _) = a
                    .dims4()
                    .map_err(|e| input_error!("attention_weights: {e}"))?;
                let (hb, ht, _) = input.hidden.dims3()?;
                if (b, t) != (hb, ht) || a.dims()[3] != t {
                    return Err(input_error!(
                        "--input {}: attention_weights {:?} does not match hidden_state {:?}",
                        args.input.display(),
                        a.dims(),
                        input.hidden.dims()
                    ));
                }
            }
            let out =
                statistical::measure(&input.hidden, input.attention.as_ref(), args.perplexity)?;
            out.named()
                .iter()
                .map(|(n, t)| Ok((*n, to_vec(t)?)))
                .collect::<anyhow::Result<_>>()?
        }
    };
    if args.json {
        let obj: serde_json::Map<String, serde_json::Value> = named
            .into_iter()
            .map(|(n, v)| (n.to_string(), serde_json::json!(v)))
            .collect();
        println!("{}", serde_json::Value::Object(obj));
    } else {
        print_table(&named);
    }
    Ok(())
}

fn print_table(named: &[(&str, Vec<f32>)]) {
    let header: Vec<String> = named.iter().map(|(n, _)| format!("{n:>21}")).collect();
    println!("sample{}", header.join(""));
    let rows = named.first().map_or(0, |(_, v)| v.len());
    for i in 0..rows {
        let cells: Vec<String> = named
            .iter()
            .map(|(_, v)| format!("{:>21.6}", v[i]))
            .collect();
        println!("{i:>6}{}", cells.join(""));
    }
}

fn main() -> ExitCode {
    report(run(Args::parse()))
}
