//! `phi_score`: scores saved activations with the learned PHI (or the statistical measures, or
//! the Gaussian integrated-information measures).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use clap::{Parser, ValueEnum};
use infinito::{device, input_error, parse_args, report};
use infinito_phi::gaussian::{
    gaussian_phi, ChannelMode, CovarianceOptions, GaussianOptions, GaussianReport,
    Measure as GaussianMeasure, Search, SearchOptions, Shrinkage,
};
use infinito_phi::{statistical, AttentionFeatures, ComplexityNorm, LearnedPhi, PhiConfig};

/// Scores saved hidden states with the learned PHI, statistical measures or Gaussian Phi.
///
/// Reads hidden states `<prefix>hidden_state` [B,T,D] (and optional attention maps
/// `<prefix>attention_weights` [B,H,T,T]) from a safetensors file and computes the learned PHI
/// in eval mode, the parameter-free statistical measures, or the Gaussian integrated-information
/// measures (Phi_SI, Phi_MI, Phi*, Phi_G across the minimum information bipartition, in nats).
#[derive(Parser, Debug)]
#[command(args_override_self = true)]
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
    /// Channels the hidden units are reduced to (gaussian measure).
    #[arg(long, default_value_t = 8)]
    channels: usize,
    /// How hidden units become channels (gaussian measure).
    #[arg(long, value_enum, default_value_t = ChannelModeArg::Pca)]
    channel_mode: ChannelModeArg,
    /// Lag in token positions between "past" and "present" (gaussian measure).
    #[arg(long, default_value_t = 1)]
    lag: usize,
    /// Shrinkage of the correlations: none, ledoit-wolf, or a fixed intensity in [0, 1]
    /// (gaussian measure).
    #[arg(long, default_value = "none", value_parser = parse_shrinkage)]
    shrinkage: Shrinkage,
    /// Relative ridge: variances multiplied by 1 + RIDGE (gaussian measure).
    #[arg(long, default_value_t = 0.0)]
    ridge: f64,
    /// How the minimum information bipartition is searched (gaussian measure).
    #[arg(long, value_enum, default_value_t = SearchArg::Auto)]
    search: SearchArg,
    /// The measure the bipartition minimises (gaussian measure).
    #[arg(long, value_enum, default_value_t = MibMeasureArg::PhiSi)]
    mib_measure: MibMeasureArg,
    /// Minimise the measure divided by the smaller part entropy (gaussian measure, exhaustive
    /// search).
    #[arg(long)]
    normalise: bool,
    /// Also compute Phi_G across the bipartition (gaussian measure; iterative, slow beyond ~16
    /// channels).
    #[arg(long)]
    phi_g: bool,
    /// Print one JSON object (per-sample arrays, or the gaussian report) instead of a table.
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
    /// Gaussian integrated information of the token-position time series of the batch.
    Gaussian,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ChannelModeArg {
    /// Top principal components over batch and positions.
    Pca,
    /// Contiguous groups of units, mean of each.
    Groups,
    /// Equal head slices of D (D divisible by --channels), mean of each.
    Heads,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SearchArg {
    /// Every bipartition (up to 20 channels).
    Exhaustive,
    /// Queyranne's algorithm.
    Queyranne,
    /// Exhaustive up to 16 channels, Queyranne beyond.
    Auto,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum MibMeasureArg {
    /// Stochastic interaction.
    PhiSi,
    /// Mutual-information form of Barrett & Seth.
    PhiMi,
    /// Mutual information between the parts' trajectories (submodular).
    PartsMi,
}

fn parse_shrinkage(text: &str) -> Result<Shrinkage, String> {
    match text {
        "none" => Ok(Shrinkage::None),
        "ledoit-wolf" => Ok(Shrinkage::LedoitWolf),
        value => match value.parse::<f64>() {
            Ok(x) if (0.0..=1.0).contains(&x) => Ok(Shrinkage::Fixed(x)),
            _ => Err("expected none, ledoit-wolf or a number in [0, 1]".to_string()),
        },
    }
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

/// The gaussian options of the flags, checked against hidden states [B, T, D].
fn gaussian_options(args: &Args, hidden: &Tensor) -> anyhow::Result<GaussianOptions> {
    let (_, t, d) = hidden.dims3()?;
    let n = args.channels;
    if n < 2 || n > d {
        return Err(input_error!(
            "--channels {n}: expected 2 to {d} (the hidden size of --input)"
        ));
    }
    let mode = match args.channel_mode {
        ChannelModeArg::Pca => ChannelMode::Pca,
        ChannelModeArg::Groups => ChannelMode::Groups,
        ChannelModeArg::Heads if d % n != 0 => {
            return Err(input_error!(
                "--channels {n} with --channel-mode heads: must divide the hidden size {d}"
            ))
        }
        ChannelModeArg::Heads => ChannelMode::Heads,
    };
    if args.lag == 0 || args.lag >= t {
        return Err(input_error!(
            "--lag {}: expected 1 to {} (the sequence length of --input minus one)",
            args.lag,
            t.saturating_sub(1)
        ));
    }
    if !(args.ridge >= 0.0 && args.ridge.is_finite()) {
        return Err(input_error!(
            "--ridge {}: expected a number >= 0",
            args.ridge
        ));
    }
    let search = match args.search {
        SearchArg::Exhaustive => Search::Exhaustive,
        SearchArg::Queyranne => Search::Queyranne,
        SearchArg::Auto => Search::Auto,
    };
    if args.normalise && search.resolve(n) != Search::Exhaustive {
        return Err(input_error!(
            "--normalise: needs the exhaustive search (--search exhaustive, at most 20 channels)"
        ));
    }
    Ok(GaussianOptions {
        channels: n,
        mode,
        covariance: CovarianceOptions {
            lag: args.lag,
            shrinkage: args.shrinkage,
            ridge: args.ridge,
        },
        search: SearchOptions {
            measure: match args.mib_measure {
                MibMeasureArg::PhiSi => GaussianMeasure::PhiSi,
                MibMeasureArg::PhiMi => GaussianMeasure::PhiMi,
                MibMeasureArg::PartsMi => GaussianMeasure::PartsMutualInformation,
            },
            search,
            normalise: args.normalise,
        },
        phi_g: args.phi_g,
    })
}

/// The gaussian report as one JSON object.
fn gaussian_json(args: &Args, options: &GaussianOptions, r: &GaussianReport) -> serde_json::Value {
    serde_json::json!({
        "channels": r.channels,
        "channel_mode": options.mode.name(),
        "lag": options.covariance.lag,
        "pairs": r.pairs,
        "shrinkage": r.shrinkage,
        "ridge": args.ridge,
        "entropy": r.entropy,
        "multi_information": r.multi_information,
        "mutual_information": r.mutual_information,
        "phi_si": r.phi_si,
        "phi_mi": r.phi_mi,
        "phi_star": r.phi_star.value,
        "phi_star_beta": r.phi_star.beta,
        "phi_g": r.phi_g.map(|g| g.value),
        "mib": {
            "parts": r.mib.partition.parts(),
            "measure": options.search.measure.name(),
            "search": r.mib.search.name(),
            "value": r.mib.value,
            "normalised": r.mib.normalised,
        },
        "part_entropies": r.part_entropies,
    })
}

fn print_gaussian(options: &GaussianOptions, r: &GaussianReport) {
    let parts: Vec<String> = r
        .mib
        .partition
        .parts()
        .iter()
        .map(|p| format!("{p:?}"))
        .collect();
    let entropies: Vec<String> = r.part_entropies.iter().map(|h| format!("{h:.6}")).collect();
    println!(
        "{} channels ({}), lag {}, {} lagged pairs, shrinkage {:.4}; values in nats",
        r.channels,
        options.mode.name(),
        options.covariance.lag,
        r.pairs,
        r.shrinkage
    );
    let mut rows = vec![
        ("entropy", format!("{:.6}", r.entropy)),
        ("multi_information", format!("{:.6}", r.multi_information)),
        ("mutual_information", format!("{:.6}", r.mutual_information)),
        ("phi_si", format!("{:.6}", r.phi_si)),
        ("phi_mi", format!("{:.6}", r.phi_mi)),
        (
            "phi_star",
            format!("{:.6} (beta {:.4})", r.phi_star.value, r.phi_star.beta),
        ),
    ];
    rows.extend(r.phi_g.map(|g| ("phi_g", format!("{:.6}", g.value))));
    rows.push((
        "mib",
        format!(
            "{} ({} of {})",
            parts.join(" | "),
            r.mib.search.name(),
            options.search.measure.name()
        ),
    ));
    rows.extend(
        r.mib
            .normalised
            .map(|v| ("mib_normalised", format!("{v:.6}"))),
    );
    rows.push(("part_entropies", entropies.join(" | ")));
    for (name, value) in rows {
        println!("{name:<20}{value}");
    }
}

/// `--measure gaussian`: the report across the MIB, as a table or JSON.
fn gaussian(args: &Args, input: &Input) -> anyhow::Result<()> {
    let options = gaussian_options(args, &input.hidden)?;
    let report = gaussian_phi(&input.hidden, &options)
        .map_err(|e| input_error!("--input {}: {e}", args.input.display()))?;
    if args.json {
        println!("{}", gaussian_json(args, &options, &report));
    } else {
        print_gaussian(&options, &report);
    }
    Ok(())
}

fn run(args: Args) -> anyhow::Result<()> {
    if let Some(p) = args.perplexity.filter(|p| !(p.is_finite() && *p > 0.0)) {
        return Err(input_error!(
            "--perplexity {p}: expected a finite number > 0"
        ));
    }
    let device = device(&args.device)?;
    let input = read_input(&args.input, &args.prefix, &device)?;
    let named: Vec<(&'static str, Vec<f32>)> = match args.measure {
        Measure::Gaussian => return gaussian(&args, &input),
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
    report(run(parse_args::<Args>(env!("CARGO_BIN_NAME"))))
}
