//! `perplexity`: scores text with GPT-2 (optionally with a peft LoRA adapter).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use infinito::{device, input_error, report};
use infinito_model::{score, tokenizer, Pretrained};

/// Per-token log-probabilities, mean negative log-likelihood and perplexity of a text.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Hugging Face GPT-2 directory (config.json, model.safetensors, tokenizer files optional).
    #[arg(long)]
    model: PathBuf,
    /// peft LoRA adapter directory (adapter_config.json, adapter_model.safetensors).
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
}

fn run(args: Args) -> anyhow::Result<()> {
    let device = device(&args.device)?;
    if !args.model.exists() {
        return Err(input_error!(
            "--model {}: no such directory",
            args.model.display()
        ));
    }
    if let Some(a) = args.adapter.as_ref().filter(|a| !a.is_dir()) {
        return Err(input_error!("--adapter {}: no such directory", a.display()));
    }
    let pretrained = Pretrained::from_dir(&args.model, args.adapter.as_deref(), &device)
        .with_context(|| format!("loading --model {}", args.model.display()))?;
    let model = &pretrained.model;
    let token_ids = match (&args.text, args.ids) {
        (Some(text), _) => {
            let tok = tokenizer::for_model_dir(&args.model, model.config().vocab_size)?;
            tokenizer::encode(&tok, text)?
        }
        (None, Some(ids)) => ids,
        (None, None) => return Err(input_error!("give --text or --ids")),
    };
    let logprobs = score::token_logprobs(model, &token_ids).map_err(|e| input_error!("{e}"))?;
    let (mean_nll, perplexity) = score::summarize(&logprobs);
    let report = Report {
        token_ids,
        logprobs,
        mean_nll,
        perplexity,
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
    }
    Ok(())
}

fn main() -> ExitCode {
    report(run(Args::parse()))
}
