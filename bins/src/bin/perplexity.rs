//! `perplexity`: scores text with GPT-2 (optionally with a peft LoRA adapter) or with a trained
//! INFINITO hybrid (our checkpoint or the original trainer's `.pt`), which also reports PHI.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use candle_core::{Device, Tensor};
use clap::Parser;
use infinito::{device, input_error, local_or_hub, parse_args, report};
use infinito_hub::{ADAPTER_FILES, GPT2_FILES};
use infinito_model::{score, tokenizer, Mode, Pretrained};
use infinito_train::setup::load_for_eval;
use tokenizers::Tokenizer;

/// Per-token log-probabilities, mean negative log-likelihood and perplexity of a text.
#[derive(Parser, Debug)]
#[command(args_override_self = true)]
struct Args {
    /// Hugging Face GPT-2 directory, hub id (gpt2, org/name[@revision]: from the hub cache, or
    /// downloaded), or a checkpoint file of train_base_more (or of the original trainer, `.pt`)
    /// to score with the hybrid model.
    #[arg(long)]
    model: PathBuf,
    /// peft LoRA adapter directory (adapter_config.json, adapter_model.safetensors) or hub id.
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// Text to score (tokenized with the model's tokenizer, or GPT-2's built-in one).
    #[arg(long, conflicts_with = "ids", required_unless_present = "ids")]
    text: Option<String>,
    /// Token ids to score, comma-separated.
    #[arg(long, value_delimiter = ',')]
    ids: Option<Vec<u32>>,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    json: bool,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
}

#[derive(serde::Serialize)]
struct Report {
    token_ids: Vec<u32>,
    logprobs: Vec<f32>,
    mean_nll: f64,
    perplexity: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    phi: Option<BTreeMap<&'static str, Vec<f32>>>,
}

fn token_ids(
    args: &Args,
    tokenizer: impl FnOnce() -> anyhow::Result<Tokenizer>,
) -> anyhow::Result<Vec<u32>> {
    match (&args.text, &args.ids) {
        (Some(text), _) => Ok(tokenizer::encode(&tokenizer()?, text)?),
        (None, Some(ids)) => Ok(ids.clone()),
        (None, None) => Err(input_error!("give --text or --ids")),
    }
}

/// Scores with a plain GPT-2 directory (and adapter).
fn score_gpt2(args: &Args, device: &Device) -> anyhow::Result<Report> {
    let pretrained = Pretrained::from_dir(&args.model, args.adapter.as_deref(), device)
        .with_context(|| format!("loading --model {}", args.model.display()))?;
    let model = &pretrained.model;
    let ids = token_ids(args, || {
        Ok(tokenizer::for_model_dir(
            &args.model,
            model.config().vocab_size,
        )?)
    })?;
    let logprobs = score::token_logprobs(model, &ids).map_err(|e| input_error!("{e}"))?;
    Ok(report_of(ids, logprobs, None))
}

/// Scores with a trained hybrid in evaluation mode, adding its PHI.
fn score_hybrid(args: &Args, device: &Device) -> anyhow::Result<Report> {
    if args.adapter.is_some() {
        return Err(input_error!(
            "--adapter applies to a GPT-2 directory, not to a checkpoint file"
        ));
    }
    let (mut hybrid, tok) = load_for_eval(&args.model, device)
        .with_context(|| format!("loading --model {}", args.model.display()))?;
    let ids = token_ids(args, || {
        tok.ok_or_else(|| input_error!("--text: this checkpoint's tokenizer is unknown (not GPT-2's vocabulary); use --ids"))
    })?;
    let config = &hybrid.config().gpt2;
    score::check_ids(&ids, config.vocab_size).map_err(|e| input_error!("{e}"))?;
    if ids.len() > config.n_positions {
        return Err(input_error!(
            "{} tokens exceed the hybrid's context of {} positions",
            ids.len(),
            config.n_positions
        ));
    }
    let out = hybrid.forward(
        &Tensor::new(ids.as_slice(), device)?.unsqueeze(0)?,
        Mode::Eval,
    )?;
    let logprobs = score::logprobs_from_logits(&out.logits()?.squeeze(0)?, &ids, 1)?;
    let phi = out
        .phi
        .named()
        .into_iter()
        .map(|(name, t)| Ok((name, t.to_vec1::<f32>()?)))
        .collect::<anyhow::Result<_>>()?;
    Ok(report_of(ids, logprobs, Some(phi)))
}

fn report_of(
    token_ids: Vec<u32>,
    logprobs: Vec<f32>,
    phi: Option<BTreeMap<&'static str, Vec<f32>>>,
) -> Report {
    let (mean_nll, perplexity) = score::summarize(&logprobs);
    Report {
        token_ids,
        logprobs,
        mean_nll,
        perplexity,
        phi,
    }
}

fn run(mut args: Args) -> anyhow::Result<()> {
    let device = device(&args.device)?;
    args.model = local_or_hub("--model", &args.model, &GPT2_FILES)?;
    if let Some(adapter) = &args.adapter {
        args.adapter = Some(local_or_hub("--adapter", adapter, &ADAPTER_FILES)?);
    }
    if let Some(a) = args.adapter.as_ref().filter(|a| !a.is_dir()) {
        return Err(input_error!("--adapter {}: no such directory", a.display()));
    }
    let report = if args.model.is_file() {
        score_hybrid(&args, &device)?
    } else {
        score_gpt2(&args, &device)?
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} tokens, {} scored\nmean NLL   {:.6} nats/token\nperplexity {:.4}",
            report.token_ids.len(),
            report.logprobs.len(),
            report.mean_nll,
            report.perplexity
        );
        for (name, values) in report.phi.iter().flatten() {
            println!("{name:<22} {:.6}", values[0]);
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    report(run(parse_args::<Args>(env!("CARGO_BIN_NAME"))))
}
