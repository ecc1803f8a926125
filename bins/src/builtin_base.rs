//! The built-in default of `train_base_more`, and the trained built-in base that the
//! scheduler's built-in default starts from.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use candle_core::Device;
use infinito_train::setup::prepare;
use infinito_train::{RunArgs, RunConfig, Trainer};

use crate::scheduler_cli::EnvArgs;

/// Where `train_base_more`'s built-in default writes its best checkpoint.
pub const README_BASE: &str = "runs/train_base_more/checkpoints/best.safetensors";
/// Where the built-in base is trained and kept when that run is absent.
pub const BASE_CACHE: &str = "runs/builtin_base";

/// With no model and no data (from flags or the config file), the built-in default is sized to
/// train in a minute or two on two CPU cores; flags given explicitly, and config-file values other
/// than the defaults, still win.
pub fn apply_builtin_profile(run: &mut RunArgs) -> anyhow::Result<()> {
    let file = match &run.config {
        Some(path) => RunConfig::load(path)?,
        None => RunConfig::default(),
    };
    if run.model.is_some() || run.data.is_some() || file.model.is_some() || file.data.is_some() {
        return Ok(());
    }
    let default = RunConfig::default();
    if file.epochs == default.epochs {
        run.epochs.get_or_insert(2);
    }
    if file.seq_len == default.seq_len {
        run.seq_len.get_or_insert(64);
    }
    if file.batch_size == default.batch_size {
        run.batch_size.get_or_insert(8);
    }
    if file.lr == default.lr {
        run.lr.get_or_insert(1e-3);
    }
    Ok(())
}

/// True when the scheduler flags name no config file, model, data or base checkpoint: the
/// scheduler's built-in default.
pub fn is_builtin_default(env: &EnvArgs) -> bool {
    env.config.is_none()
        && env.model.is_none()
        && env.data.is_none()
        && env.base_checkpoint.is_none()
}

/// The best checkpoint of the built-in base as the README's first command trains it: that run's
/// own when present, else the cached one under [`BASE_CACHE`], else trained once into the cache
/// now. Says on stderr which.
pub fn trained_builtin_base() -> anyhow::Result<PathBuf> {
    let readme = PathBuf::from(README_BASE);
    if readme.is_file() {
        eprintln!(
            "built-in default: starting from the trained built-in base {}",
            readme.display()
        );
        return Ok(readme);
    }
    let cached = Path::new(BASE_CACHE).join("checkpoints/best.safetensors");
    if cached.is_file() {
        eprintln!(
            "built-in default: starting from the cached built-in base {}",
            cached.display()
        );
        return Ok(cached);
    }
    eprintln!(
        "built-in default: no trained built-in base ({README_BASE}) yet; training it once with train_base_more's built-in default into {BASE_CACHE} (a few minutes)"
    );
    train_builtin_base(Path::new(BASE_CACHE)).context("training the built-in base")
}

/// Trains `train_base_more`'s built-in default into `output` and returns its best checkpoint.
pub fn train_builtin_base(output: &Path) -> anyhow::Result<PathBuf> {
    let mut args = RunArgs {
        output: Some(output.to_path_buf()),
        overwrite: true,
        ..RunArgs::default()
    };
    apply_builtin_profile(&mut args)?;
    let mut cfg = args.resolve()?;
    let setup = prepare(&mut cfg, &Device::Cpu)?;
    let mut options = cfg.fit_options(Device::Cpu, Arc::new(AtomicBool::new(false)))?;
    options.progress = false;
    let outcome = Trainer::new(setup.model, options)?.fit(&setup.train, &setup.valid)?;
    let best = outcome
        .best_checkpoint
        .ok_or_else(|| anyhow::anyhow!("the built-in base finished no epoch"))?;
    eprintln!(
        "built-in default: trained the built-in base, {}",
        best.display()
    );
    Ok(best)
}
