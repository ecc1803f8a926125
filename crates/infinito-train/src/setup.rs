//! Everything a `train_base_more` run needs, built from its [`RunConfig`]: the hybrid (from a
//! Hugging Face GPT-2, the original's checkpoint, or a small built-in config trained from
//! scratch), its tokenizer, and the training/validation windows.

use std::path::{Path, PathBuf};

use candle_core::Device;
use infinito_model::hybrid::{Hybrid, HybridConfig};
use infinito_model::import::{import_original, is_original};
use infinito_model::limits::{check_memory, run_bytes, RunShape};
use infinito_model::loss::{LossWeights, PhiObjective};
use infinito_model::pretrained::{load_base, random_weights};
use infinito_model::{tokenizer, Gpt2Config, LoraConfig};
use infinito_phi::PhiConfig;
use tokenizers::Tokenizer;

pub use crate::base::BUILTIN_MODEL;
use crate::base::{check_same, resolve_model, resolve_recorded, ModelRef};
use crate::builtin;
use crate::config::RunConfig;
use crate::data::{load_split, LmWindows, Split};
use crate::error::{Result, TrainError};
use crate::hybrid::HybridModel;

/// Vocabulary of the built-in tokenizer.
const BUILTIN_VOCAB: usize = 512;
/// The longest window of the built-in model (GPT-2's own positions).
const BUILTIN_MAX_POSITIONS: usize = 1024;

/// A run ready to train.
pub struct RunSetup {
    pub model: HybridModel,
    pub tokenizer: Tokenizer,
    pub train: LmWindows,
    pub valid: LmWindows,
    /// Our checkpoint to resume from (the trainer restores model, optimizer and counters).
    pub resume_from: Option<PathBuf>,
    /// One line saying what was built, for the console.
    pub description: String,
}

/// Where a model comes from.
enum Source {
    Base(ModelRef),
    Original(PathBuf),
}

/// A trained hybrid for evaluation: our checkpoint (rebuilt from the run config it holds) or the
/// original trainer's `.pt`; with the tokenizer of its model when one is known.
pub fn load_for_eval(path: &Path, device: &Device) -> Result<(Hybrid, Option<Tokenizer>)> {
    if infinito_checkpoint::read_metadata(path)
        .ok()
        .flatten()
        .is_none()
    {
        let cfg = RunConfig::default();
        let (hybrid, tokenizer, _) =
            build_hybrid(&cfg, Source::Original(path.to_path_buf()), false, device)?;
        return Ok((hybrid, tokenizer));
    }
    let (config, tensors) = crate::read_model(path, device)?;
    let cfg = run_config_of(path, config)?;
    let model = match &cfg.base_model {
        Some(base) => resolve_recorded(path, base)?,
        None => resolve_model(cfg.model.as_deref())?,
    };
    let (mut hybrid, tokenizer, _) = build_hybrid(&cfg, Source::Base(model), false, device)?;
    hybrid.load_state(&tensors).map_err(TrainError::model)?;
    Ok((hybrid, tokenizer))
}

/// The run configuration saved in a checkpoint's metadata.
fn run_config_of(path: &Path, config: serde_json::Value) -> Result<RunConfig> {
    serde_json::from_value(config).map_err(|e| TrainError::Resume {
        path: path.to_path_buf(),
        reason: format!("its run configuration does not parse: {e}"),
    })
}

/// The base model a checkpoint of ours records, if it records one.
fn recorded_base(path: &Path) -> Option<infinito_hub::BaseModel> {
    let meta = infinito_checkpoint::read_metadata(path).ok().flatten()?;
    let config: RunConfig = serde_json::from_value(meta.get("config")?.clone()).ok()?;
    config.base_model
}

/// Builds the model, tokenizer and data of `cfg` on `device`, and records in `cfg` the base
/// model `--model` resolved to (resuming refuses a checkpoint of another base model).
pub fn prepare(cfg: &mut RunConfig, device: &Device) -> Result<RunSetup> {
    let checkpoint = cfg.checkpoint.clone();
    let ours = checkpoint.as_ref().is_some_and(|path| {
        infinito_checkpoint::read_metadata(path)
            .ok()
            .flatten()
            .is_some()
    });
    let (source, resume_from) = match checkpoint {
        Some(path) if !ours => (Source::Original(path), None),
        checkpoint => {
            let model = resolve_model(cfg.model.as_deref())?;
            if let Some(path) = &checkpoint {
                if let Some(recorded) = recorded_base(path) {
                    check_same(path, &recorded, &model.base())?;
                }
            }
            cfg.base_model = Some(model.base());
            // An absolute path keeps working when the run resumes from another directory.
            if let ModelRef::Dir { dir, .. } = &model {
                if cfg.model.as_deref().is_some_and(|m| Path::new(m).is_dir()) {
                    cfg.model = Some(dir.display().to_string());
                }
            }
            (Source::Base(model), checkpoint)
        }
    };
    let (hybrid, tokenizer, description) = build_hybrid(cfg, source, true, device)?;
    let tokenizer = tokenizer.ok_or_else(|| {
        TrainError::flag(
            "--model",
            "(none)",
            "the Hugging Face directory holding this checkpoint's tokenizer (its vocabulary is not GPT-2's)",
        )
    })?;
    let (train, valid) = load_data(cfg, &tokenizer)?;
    let model = HybridModel {
        hybrid,
        weights: LossWeights {
            text: 1.0,
            phi: cfg.lambda_phi,
        },
        objective: PhiObjective {
            loss: cfg.phi_loss,
            grad: cfg.phi_grad,
            target: cfg.phi_target,
            band: cfg.phi_band.0,
        },
    };
    Ok(RunSetup {
        model,
        tokenizer,
        train,
        valid,
        resume_from,
        description,
    })
}

fn hybrid_config(gpt2: Gpt2Config, cfg: &RunConfig, train_base: bool) -> HybridConfig {
    HybridConfig {
        phi: PhiConfig::new(gpt2.n_embd, gpt2.n_head),
        gpt2,
        lora: LoraConfig::new(cfg.lora_r, cfg.lora_alpha, 0.1),
        memory_slots: cfg.memory_slots,
        train_base,
    }
}

/// Checks the sizes of a run of `config` (from flags, a config file or a checkpoint's metadata)
/// before its model is built: the training window fits the model's positions (evaluation reads
/// no window of the run's), the LoRA rank its width, and the estimated memory what the machine
/// has free.
/// The built-in model's configuration for `cfg` with a vocabulary of `vocab`.
fn builtin_config(cfg: &RunConfig, vocab: usize) -> Result<HybridConfig> {
    if cfg.seq_len > BUILTIN_MAX_POSITIONS {
        return Err(TrainError::flag(
            "--seq-len",
            cfg.seq_len,
            format!("at most {BUILTIN_MAX_POSITIONS} with the built-in model"),
        ));
    }
    let gpt2 = Gpt2Config::new(vocab, cfg.seq_len.max(256), 64, 2, 4);
    let mut config = hybrid_config(gpt2, cfg, true);
    // PHI nets scaled to the model (the original widths would dwarf a 64-wide GPT-2).
    config.phi.temporal_dim = 32;
    config.phi.integration_dim = 64;
    config.phi.complexity_dim = 32;
    config.phi.diversity_dim = 16;
    Ok(config)
}

/// Checks that a training run of the built-in model with `cfg` fits (sequence length, LoRA rank,
/// estimated memory) without building anything: for callers about to spend time before
/// [`prepare`].
pub fn check_builtin_run(cfg: &RunConfig) -> Result<()> {
    check_sizes(cfg, &builtin_config(cfg, BUILTIN_VOCAB)?, true)
}

fn check_sizes(cfg: &RunConfig, config: &HybridConfig, training: bool) -> Result<()> {
    let n_positions = config.gpt2.n_positions;
    if training && cfg.seq_len > n_positions {
        return Err(TrainError::flag(
            "--seq-len",
            cfg.seq_len,
            format!("at most the model's n_positions ({n_positions})"),
        ));
    }
    let width = config.gpt2.n_embd;
    if config.lora.r > width {
        return Err(TrainError::flag(
            "--lora-r",
            config.lora.r,
            format!("at most the model's width n_embd ({width})"),
        ));
    }
    let batch = if training { cfg.batch_size } else { 1 };
    let shape = RunShape {
        batch,
        seq_len: cfg.seq_len,
        memory_slots: config.memory_slots,
        lora_r: config.lora.r,
        training,
    };
    let what = format!(
        "--batch-size {batch} with --seq-len {} and --memory-slots {}",
        cfg.seq_len, config.memory_slots
    );
    check_memory(&what, run_bytes(&config.gpt2, shape)).map_err(TrainError::model)
}

fn build_hybrid(
    cfg: &RunConfig,
    source: Source,
    training: bool,
    device: &Device,
) -> Result<(Hybrid, Option<Tokenizer>, String)> {
    let (hybrid, tokenizer, description) = match source {
        Source::Base(ModelRef::Builtin) => {
            let tokenizer = builtin::tokenizer(BUILTIN_VOCAB)?;
            let vocab = tokenizer.get_vocab_size(true);
            let tokenizer = Some(tokenizer);
            let config = builtin_config(cfg, vocab)?;
            let description = format!(
                "built-in model ({BUILTIN_MODEL}: 2 layers, 64 wide, 4 heads, vocabulary {}) trained from scratch",
                config.gpt2.vocab_size
            );
            check_sizes(cfg, &config, training)?;
            let base = random_weights(&config.gpt2, cfg.seed, device).map_err(TrainError::model)?;
            let hybrid = Hybrid::new(config, base, cfg.seed, device).map_err(TrainError::model)?;
            (hybrid, tokenizer, description)
        }
        Source::Base(ModelRef::Dir { dir, .. }) => {
            let gpt2 =
                Gpt2Config::from_file(&dir.join("config.json")).map_err(TrainError::model)?;
            check_sizes(cfg, &hybrid_config(gpt2, cfg, false), training)?;
            let (gpt2, base) = load_base(&dir, device).map_err(TrainError::model)?;
            let tokenizer =
                tokenizer::for_model_dir(&dir, gpt2.vocab_size).map_err(TrainError::model)?;
            let description = format!("GPT-2 from {} with LoRA r={}", dir.display(), cfg.lora_r);
            let config = hybrid_config(gpt2, cfg, false);
            let hybrid = Hybrid::new(config, base, cfg.seed, device).map_err(TrainError::model)?;
            (hybrid, Some(tokenizer), description)
        }
        Source::Original(path) => {
            let tensors = infinito_checkpoint::load_tensors(&path, None, device)?;
            if !is_original(&tensors) {
                return Err(TrainError::flag(
                    "--checkpoint",
                    path.display(),
                    "a checkpoint of this tool (safetensors with metadata) or the original trainer's .pt",
                ));
            }
            // The original's two configurations both use alpha = 4r (scaling 4), which the
            // import assumes.
            let imported = import_original(tensors, None, &path).map_err(TrainError::model)?;
            let vocab = imported.config.gpt2.vocab_size;
            let tokenizer = match resolve_model(cfg.model.as_deref())? {
                ModelRef::Dir { dir, .. } => {
                    Some(tokenizer::for_model_dir(&dir, vocab).map_err(TrainError::model)?)
                }
                ModelRef::Builtin if vocab == tokenizer::GPT2_VOCAB_SIZE => {
                    Some(tokenizer::builtin_gpt2().map_err(TrainError::model)?)
                }
                _ => None,
            };
            let description = format!("the original hybrid checkpoint {}", path.display());
            check_sizes(cfg, &imported.config, training)?;
            let mut hybrid = Hybrid::new(imported.config, imported.base, cfg.seed, device)
                .map_err(TrainError::model)?;
            hybrid
                .load_state(&imported.state)
                .map_err(TrainError::model)?;
            (hybrid, tokenizer, description)
        }
    };
    Ok((hybrid, tokenizer, description))
}

/// The end-of-text id used to pad the last window.
fn pad_id(tokenizer: &Tokenizer) -> u32 {
    tokenizer.token_to_id(builtin::EOS_TOKEN).unwrap_or(0)
}

/// Token cache shared by runs: `$HOME/.cache/infinito/tokens` when `HOME` is set.
fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/infinito/tokens"))
}

fn load_data(cfg: &RunConfig, tokenizer: &Tokenizer) -> Result<(LmWindows, LmWindows)> {
    let Some(data) = &cfg.data else {
        return builtin::datasets(tokenizer, cfg.seq_len);
    };
    let cache = cache_dir();
    let split = |s| {
        load_split(
            data,
            s,
            tokenizer,
            cache.as_deref(),
            cfg.seq_len,
            pad_id(tokenizer),
        )
    };
    let (train, _) = split(Split::Train)?;
    let (valid, _) = split(Split::Valid)?;
    Ok((train, valid))
}
