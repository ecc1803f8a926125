//! The built-in default of `train_base_more`, and the trained built-in base that the
//! scheduler's built-in default starts from.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use candle_core::Device;
use infinito_train::setup::prepare;
use infinito_train::{RunConfig, RunFlags, Trainer};

/// Where `train_base_more`'s built-in default writes its best checkpoint.
pub const README_BASE: &str = "runs/train_base_more/checkpoints/best.safetensors";
/// Where the built-in base is trained and kept when that run is absent.
pub const BASE_CACHE: &str = "runs/builtin_base";

/// The base layer of `train_base_more`'s built-in default (no model and no data, from flags
/// or the config file): the defaults, sized to train in a minute or two on two CPU cores.
/// The config file and the flags given are laid over it.
pub fn builtin_profile() -> RunConfig {
    RunConfig {
        epochs: 2,
        seq_len: 64,
        batch_size: 8,
        lr: 1e-3,
        ..RunConfig::default()
    }
}

/// The configuration of `train_base_more`: [`builtin_profile`] under the file and flags when
/// they name no model and no data, the defaults otherwise.
pub fn resolve_run(flags: &RunFlags, matches: &clap::ArgMatches) -> anyhow::Result<RunConfig> {
    let file = flags.file_layer()?;
    let config = flags.resolve_with_file(&RunConfig::default(), file.clone(), matches)?;
    if config.model.is_some() || config.data.is_some() {
        return Ok(config);
    }
    Ok(flags.resolve_with_file(&builtin_profile(), file, matches)?)
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
    let mut cfg = RunConfig {
        output: output.to_path_buf(),
        overwrite: true,
        ..builtin_profile()
    };
    cfg.validate()?;
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
