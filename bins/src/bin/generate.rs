//! `generate`: continues a prompt with a trained model — a `train_base_more` checkpoint, a
//! scheduler checkpoint directory (its `model.safetensors`), the original trainer's `.pt`, or a
//! Hugging Face GPT-2 directory with an optional peft adapter — in evaluation mode with a KV
//! cache. Hybrids generate through their memory read-out (see `infinito_model::generate`) and can
//! report PHI per step (one full forward per token). A scheduler's agent plays no part in decoding
//! (in the original its actions never reached the text either). The repetition penalty follows
//! CTRL/Hugging Face: positive logits of seen tokens are divided, negative ones multiplied.
//! `--report` measures generation quality on a fixed prompt set, `--compare` puts a second
//! checkpoint beside the first.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use candle_core::Device;
use clap::Parser;
use infinito::{device, input_error, local_or_hub, parse_args, report};
use infinito_hub::{ADAPTER_FILES, GPT2_FILES};
use infinito_model::generate::{Generation, GenerationLimits, Generator, StopReason};
use infinito_model::quality::{table, Quality, REPORT_PROMPTS};
use infinito_model::sampling::{Sampler, SamplingConfig};
use infinito_model::{tokenizer, ModelError, Pretrained};
use infinito_train::setup::load_for_eval;
use serde::Serialize;
use tokenizers::Tokenizer;

/// Where `train_base_more` leaves its checkpoints by default.
const DEFAULT_CHECKPOINTS: [&str; 2] = [
    "runs/train_base_more/checkpoints/best.safetensors",
    "runs/train_base_more/checkpoints/last.safetensors",
];

/// The most continuations one call generates per prompt.
const MAX_SAMPLES: usize = 10_000;

/// Generates text with a trained INFINITO hybrid or GPT-2 (+LoRA), or a generation-quality report.
#[derive(Parser, Debug)]
#[command(args_override_self = true)]
struct Args {
    /// A train_base_more checkpoint (.safetensors), a scheduler checkpoint directory (holding
    /// model.safetensors), the original trainer's .pt, a Hugging Face GPT-2 directory, or a
    /// GPT-2 hub id (gpt2, org/name[@revision]: from the hub cache, or downloaded).
    /// Default: runs/train_base_more/checkpoints/best.safetensors, else last.safetensors.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// peft LoRA adapter directory (or hub id) for a Hugging Face GPT-2 --checkpoint.
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// Text to continue.
    #[arg(long, default_value = "The nature of consciousness")]
    prompt: String,
    /// Token ids to continue instead of --prompt, comma-separated (for models whose tokenizer is
    /// unknown).
    #[arg(long, value_delimiter = ',', conflicts_with = "report")]
    prompt_ids: Option<Vec<u32>>,
    /// New tokens to generate (fewer if the model's context fills up or --stop-at-eos stops).
    #[arg(long, default_value_t = 100)]
    max_length: usize,
    /// Softmax temperature (> 0).
    #[arg(long, default_value_t = 0.8)]
    temperature: f64,
    /// Keep the k most likely tokens (0: all).
    #[arg(long, default_value_t = 40)]
    top_k: usize,
    /// Nucleus mass to keep, in [0, 1] (1: all).
    #[arg(long, default_value_t = 0.9)]
    top_p: f64,
    /// Repetition penalty over the prompt and the generated tokens (1: none): positive logits of
    /// seen tokens are divided by it, negative ones multiplied.
    #[arg(long, default_value_t = 1.2)]
    repetition_penalty: f32,
    /// Take the most likely token at each step (the repetition penalty still applies).
    #[arg(long)]
    greedy: bool,
    /// Continuations per prompt.
    #[arg(long, default_value_t = 1)]
    num_samples: usize,
    /// Seed of the sampling stream (default: from the clock; the one used is printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Stop a continuation at the end-of-text token.
    #[arg(long)]
    stop_at_eos: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Report the hybrid's PHI after each new token (one full forward per token).
    #[arg(long)]
    trace_phi: bool,
    /// Print only the generated texts.
    #[arg(long)]
    quiet: bool,
    /// Generate for a fixed prompt set and report distinct-1/2/3, the repeated-n-gram rate, mean
    /// PHI (hybrids) and the continuation's perplexity under the model.
    #[arg(long)]
    report: bool,
    /// A second checkpoint to report beside the first (same settings and seed).
    #[arg(long, requires = "report")]
    compare: Option<PathBuf>,
    /// peft LoRA adapter directory for a Hugging Face GPT-2 --compare.
    #[arg(long, requires = "compare")]
    compare_adapter: Option<PathBuf>,
    /// The n of the repeated-n-gram rate.
    #[arg(long, default_value_t = 3)]
    repeat_n: usize,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// A loaded model with its tokenizer (when known) and where it came from.
struct Loaded {
    model: Generator,
    tokenizer: Option<Tokenizer>,
    path: PathBuf,
}

impl Loaded {
    fn kind(&self) -> &'static str {
        match self.model {
            Generator::Gpt2(_) => "gpt2",
            Generator::Hybrid(_) => "hybrid",
        }
    }
}

/// The checkpoint to use: `--checkpoint`, or the default train_base_more output.
fn checkpoint_path(arg: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = arg {
        return Ok(path.to_path_buf());
    }
    DEFAULT_CHECKPOINTS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            input_error!(
                "no --checkpoint given and no {} (or last.safetensors beside it): train first with `train_base_more` or pass --checkpoint",
                DEFAULT_CHECKPOINTS[0]
            )
        })
}

/// Loads whatever `given` holds or names (see `--checkpoint`).
fn load(given: &Path, adapter: Option<&Path>, device: &Device) -> anyhow::Result<Loaded> {
    let path = &local_or_hub("--checkpoint", given, &GPT2_FILES)?;
    let adapter = adapter
        .map(|a| local_or_hub("--adapter", a, &ADAPTER_FILES))
        .transpose()?;
    let adapter = adapter.as_deref();
    if let Some(a) = adapter.filter(|a| !a.is_dir()) {
        return Err(input_error!("--adapter {}: no such directory", a.display()));
    }
    let context = || format!("loading --checkpoint {}", path.display());
    if path.join("config.json").is_file() {
        let pretrained = Pretrained::from_dir(path, adapter, device).with_context(context)?;
        let vocab = pretrained.model.config().vocab_size;
        let tokenizer = tokenizer::for_model_dir(path, vocab).ok();
        return Ok(Loaded {
            model: Generator::Gpt2(Box::new(pretrained.model)),
            tokenizer,
            path: given.to_path_buf(),
        });
    }
    if adapter.is_some() {
        return Err(input_error!(
            "--adapter applies to a Hugging Face GPT-2 directory, not to {}",
            path.display()
        ));
    }
    let file = if path.is_dir() {
        let model = path.join("model.safetensors");
        if !model.is_file() {
            return Err(input_error!(
                "--checkpoint {}: a directory must be a Hugging Face GPT-2 (config.json) or a scheduler checkpoint (model.safetensors)",
                path.display()
            ));
        }
        model
    } else {
        path.to_path_buf()
    };
    if infinito_rl::sb3::is_sb3_zip(&file) {
        return Err(input_error!(
            "--checkpoint {}: a stable-baselines3 agent (the scheduler's policy) has no language model; pass the model it trained instead: a train_base_more checkpoint, a scheduler checkpoint directory of ours, the original's .pt, or a Hugging Face GPT-2 directory",
            path.display()
        ));
    }
    let (hybrid, tokenizer) = load_for_eval(&file, device).with_context(context)?;
    Ok(Loaded {
        model: Generator::Hybrid(Box::new(hybrid)),
        tokenizer,
        path: given.to_path_buf(),
    })
}

/// Settings shared by every generation of a run.
#[derive(Clone)]
struct Settings {
    sampling: SamplingConfig,
    seed: u64,
    max_new_tokens: usize,
    num_samples: usize,
    stop_at_eos: bool,
    trace_phi: bool,
}

/// One continuation with its text (when the tokenizer is known).
#[derive(Serialize)]
struct Sample {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    continuation: Option<String>,
    #[serde(flatten)]
    generation: Generation,
    tokens_per_s: f64,
}

#[derive(Serialize)]
struct PromptResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<String>,
    prompt_ids: Vec<u32>,
    samples: Vec<Sample>,
}

/// Token ids of the prompt text (or the given ids, checked against the vocabulary).
fn prompt_ids(loaded: &Loaded, text: &str, ids: Option<&[u32]>) -> anyhow::Result<Vec<u32>> {
    let ids = match (ids, &loaded.tokenizer) {
        (Some(ids), _) => ids.to_vec(),
        (None, Some(tok)) => tokenizer::encode(tok, text)?,
        (None, None) => {
            return Err(input_error!(
                "--prompt: the tokenizer of {} is unknown (its vocabulary is not GPT-2's); use --prompt-ids",
                loaded.path.display()
            ))
        }
    };
    let vocab = loaded.model.vocab_size();
    if ids.is_empty() {
        return Err(input_error!("--prompt: the prompt has no tokens"));
    }
    if let Some(bad) = ids.iter().find(|&&id| id as usize >= vocab) {
        return Err(input_error!(
            "--prompt-ids: token id {bad} is outside the vocabulary (size {vocab})"
        ));
    }
    Ok(ids)
}

/// The end-of-text id when `--stop-at-eos` asks for it.
fn stop_token(loaded: &Loaded, settings: &Settings) -> anyhow::Result<Option<u32>> {
    if !settings.stop_at_eos {
        return Ok(None);
    }
    loaded
        .tokenizer
        .as_ref()
        .and_then(|t| t.token_to_id(tokenizer::END_OF_TEXT))
        .map(Some)
        .ok_or_else(|| {
            input_error!(
                "--stop-at-eos: the tokenizer of {} has no {}",
                loaded.path.display(),
                tokenizer::END_OF_TEXT
            )
        })
}

/// Bad input (e.g. a prompt longer than the context) as an input error, the rest as failures.
fn model_error(e: ModelError) -> anyhow::Error {
    match e {
        ModelError::Input(message) => input_error!("{message}"),
        other => other.into(),
    }
}

/// `num_samples` continuations of `prompt`, with PHI traced when asked (hybrids only).
fn continue_prompt(
    loaded: &mut Loaded,
    text: Option<&str>,
    prompt: Vec<u32>,
    settings: &Settings,
) -> anyhow::Result<PromptResult> {
    let limits = GenerationLimits {
        max_new_tokens: settings.max_new_tokens,
        stop_token: stop_token(loaded, settings)?,
    };
    let mut sampler = Sampler::new(settings.sampling.clone(), settings.seed)?;
    let generations = loaded
        .model
        .continuations(
            &prompt,
            settings.num_samples,
            limits,
            &mut sampler,
            settings.trace_phi,
        )
        .map_err(model_error)?;
    let decode = |ids: &[u32]| -> anyhow::Result<Option<String>> {
        let text = loaded.tokenizer.as_ref().map(|t| tokenizer::decode(t, ids));
        Ok(text.transpose()?)
    };
    let mut samples = Vec::with_capacity(generations.len());
    for generation in generations {
        let tokens = &generation.tokens;
        let shown = match generation.stop {
            StopReason::StopToken => &tokens[..tokens.len() - 1],
            _ => &tokens[..],
        };
        samples.push(Sample {
            text: decode(&[prompt.as_slice(), shown].concat())?,
            continuation: decode(shown)?,
            tokens_per_s: generation.tokens_per_second(),
            generation,
        });
    }
    Ok(PromptResult {
        prompt: text.map(str::to_string),
        prompt_ids: prompt,
        samples,
    })
}

fn quality(samples: &[&Sample], repeat_n: usize) -> Quality {
    let generations: Vec<&Generation> = samples.iter().map(|s| &s.generation).collect();
    Quality::of(&generations, repeat_n)
}

#[derive(Serialize)]
struct PromptReport {
    #[serde(flatten)]
    result: PromptResult,
    quality: Quality,
}

#[derive(Serialize)]
struct CheckpointReport {
    checkpoint: String,
    model: &'static str,
    prompts: Vec<PromptReport>,
    overall: Quality,
}

/// Runs the report's prompt set on one checkpoint (PHI traced for hybrids).
fn report_checkpoint(
    path: &Path,
    mut loaded: Loaded,
    args: &Args,
    settings: &Settings,
) -> anyhow::Result<CheckpointReport> {
    let settings = Settings {
        trace_phi: matches!(loaded.model, Generator::Hybrid(_)),
        ..settings.clone()
    };
    let mut prompts = Vec::with_capacity(REPORT_PROMPTS.len());
    for (i, text) in REPORT_PROMPTS.iter().enumerate() {
        if !args.quiet && !args.json {
            eprintln!(
                "[{}/{}] {}: {text}",
                i + 1,
                REPORT_PROMPTS.len(),
                path.display()
            );
        }
        let ids = prompt_ids(&loaded, text, None)?;
        let result = continue_prompt(&mut loaded, Some(text), ids, &settings)?;
        let quality = quality(&result.samples.iter().collect::<Vec<_>>(), args.repeat_n);
        prompts.push(PromptReport { result, quality });
    }
    let all: Vec<&Sample> = prompts.iter().flat_map(|p| &p.result.samples).collect();
    Ok(CheckpointReport {
        checkpoint: path.display().to_string(),
        model: loaded.kind(),
        overall: quality(&all, args.repeat_n),
        prompts,
    })
}

/// The report as a table (one row per prompt and an overall row, checkpoints side by side),
/// then the texts unless `quiet`.
fn print_report(reports: &[CheckpointReport], repeat_n: usize, quiet: bool) {
    let names = ["A", "B"];
    for (name, r) in names.iter().zip(reports) {
        println!("{name}: {} ({})", r.checkpoint, r.model);
    }
    let mut rows: Vec<(&str, Vec<&Quality>)> = REPORT_PROMPTS
        .iter()
        .enumerate()
        .map(|(p, text)| {
            (
                *text,
                reports.iter().map(|r| &r.prompts[p].quality).collect(),
            )
        })
        .collect();
    rows.push(("all prompts", reports.iter().map(|r| &r.overall).collect()));
    print!("{}", table(&names[..reports.len()], &rows, repeat_n));
    if quiet {
        return;
    }
    for (name, r) in names.iter().zip(reports) {
        println!("\n{name}: {}", r.checkpoint);
        for s in r.prompts.iter().flat_map(|p| &p.result.samples) {
            println!("- {}", s.text.as_deref().unwrap_or("(no tokenizer)"));
        }
    }
}

fn settings(args: &Args) -> anyhow::Result<Settings> {
    let sampling = SamplingConfig {
        greedy: args.greedy,
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        repetition_penalty: args.repetition_penalty,
    };
    if let Err(e) = sampling.validate() {
        return Err(input_error!("{e}"));
    }
    if !(1..=MAX_SAMPLES).contains(&args.num_samples) {
        return Err(input_error!(
            "--num-samples {}: expected 1 to {MAX_SAMPLES}",
            args.num_samples
        ));
    }
    if args.repeat_n == 0 {
        return Err(input_error!("--repeat-n 0: expected at least 1"));
    }
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    Ok(Settings {
        sampling,
        seed,
        max_new_tokens: args.max_length,
        num_samples: args.num_samples,
        stop_at_eos: args.stop_at_eos,
        trace_phi: args.trace_phi,
    })
}

#[derive(Serialize)]
struct Output<'a, T: Serialize> {
    seed: u64,
    sampling: &'a SamplingConfig,
    max_new_tokens: usize,
    #[serde(flatten)]
    result: T,
}

#[derive(Serialize)]
struct SingleOutput {
    checkpoint: String,
    model: &'static str,
    #[serde(flatten)]
    result: PromptResult,
}

fn print_samples(out: &SingleOutput, settings: &Settings, quiet: bool) {
    if !quiet {
        let s = &settings.sampling;
        println!("model: {} ({})", out.checkpoint, out.model);
        if s.greedy {
            println!(
                "greedy decoding, repetition penalty {}",
                s.repetition_penalty
            );
        } else {
            println!(
                "temperature {}, top-k {}, top-p {}, repetition penalty {}, seed {}",
                s.temperature, s.top_k, s.top_p, s.repetition_penalty, settings.seed
            );
        }
    }
    for (i, sample) in out.result.samples.iter().enumerate() {
        if !quiet {
            println!("--- sample {} ---", i + 1);
        }
        let g = &sample.generation;
        match &sample.text {
            Some(text) => println!("{text}"),
            None => println!("{:?}", g.tokens),
        }
        if quiet {
            continue;
        }
        println!(
            "[{} tokens, stop: {}, {:.2} s, {:.1} tok/s]",
            g.tokens.len(),
            g.stop,
            g.prefill_seconds + g.decode_seconds,
            sample.tokens_per_s
        );
        if !g.phi.is_empty() {
            let steps: Vec<String> = g.phi.iter().map(|p| format!("{p:.3}")).collect();
            println!("PHI per step: {}", steps.join(" "));
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let device = device(&args.device)?;
    let settings = settings(&args)?;
    let path = checkpoint_path(args.checkpoint.as_deref())?;
    if args.report {
        // Both models are loaded before any generation, so a bad --compare fails at once.
        let mut models = vec![(path.clone(), load(&path, args.adapter.as_deref(), &device)?)];
        if let Some(other) = &args.compare {
            let second = load(other, args.compare_adapter.as_deref(), &device)?;
            models.push((other.clone(), second));
        }
        let reports = models
            .into_iter()
            .map(|(path, loaded)| report_checkpoint(&path, loaded, &args, &settings))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if args.json {
            let output = Output {
                seed: settings.seed,
                sampling: &settings.sampling,
                max_new_tokens: settings.max_new_tokens,
                result: serde_json::json!({ "checkpoints": reports }),
            };
            println!("{}", serde_json::to_string(&output)?);
        } else {
            print_report(&reports, args.repeat_n, args.quiet);
        }
        return Ok(());
    }
    let mut loaded = load(&path, args.adapter.as_deref(), &device)?;
    if settings.trace_phi && !matches!(loaded.model, Generator::Hybrid(_)) {
        return Err(input_error!(
            "--trace-phi: {} is a GPT-2 model; PHI needs a hybrid checkpoint",
            path.display()
        ));
    }
    let ids = prompt_ids(&loaded, &args.prompt, args.prompt_ids.as_deref())?;
    let text = args.prompt_ids.is_none().then_some(args.prompt.as_str());
    let result = continue_prompt(&mut loaded, text, ids, &settings)?;
    let out = SingleOutput {
        checkpoint: path.display().to_string(),
        model: loaded.kind(),
        result,
    };
    if args.json {
        let output = Output {
            seed: settings.seed,
            sampling: &settings.sampling,
            max_new_tokens: settings.max_new_tokens,
            result: out,
        };
        println!("{}", serde_json::to_string(&output)?);
    } else {
        print_samples(&out, &settings, args.quiet);
    }
    Ok(())
}

fn main() -> ExitCode {
    report(run(parse_args::<Args>(env!("CARGO_BIN_NAME"))))
}
