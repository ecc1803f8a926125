//! `train_base_more`: trains the INFINITO hybrid (GPT-2 + LoRA + PHI memory + learned PHI) on a
//! corpus, with validation, checkpoints, exact resume and safe Ctrl+C.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use infinito::builtin_base::resolve_run;
use infinito::input_error;
use infinito::{device, parse_command_line, report};
use infinito_phi::gaussian::GaussianOptions;
use infinito_train::hybrid::{GaussianPhiLog, HybridWithGaussianPhi};
use infinito_train::interrupt::install_ctrlc_handler;
use infinito_train::setup::prepare;
use infinito_train::{RunConfig, RunFlags, StopReason, Trainer};

/// Trains the INFINITO hybrid: GPT-2 + LoRA + PHI memory + learned PHI (the guide's option 2).
///
/// Without --model and --data it trains a small built-in model from scratch on a built-in
/// corpus.
#[derive(Parser, Debug)]
#[command(args_override_self = true)]
struct Args {
    #[command(flatten)]
    run: RunFlags,
    /// Do not write TensorBoard event files into <OUTPUT>/tensorboard/.
    #[arg(long)]
    no_tensorboard: bool,
}

/// The Gaussian PHI logging of `--log-gaussian-phi-every`, checked against the model width.
fn gaussian_phi_log(cfg: &RunConfig, width: usize) -> anyhow::Result<Option<GaussianPhiLog>> {
    let Some(every) = cfg.log_gaussian_phi_every else {
        return Ok(None);
    };
    if cfg.gaussian_channels > width {
        return Err(input_error!(
            "--gaussian-channels {}: at most the model's hidden size ({width})",
            cfg.gaussian_channels
        ));
    }
    Ok(Some(GaussianPhiLog {
        every,
        options: GaussianOptions {
            channels: cfg.gaussian_channels,
            phi_g: false,
            ..GaussianOptions::default()
        },
    }))
}

fn run((args, matches): (Args, clap::ArgMatches)) -> anyhow::Result<()> {
    let mut cfg = resolve_run(&args.run, &matches)?;
    let device = device(&cfg.device)?;
    let stop = install_ctrlc_handler()?;
    let setup = prepare(&mut cfg, &device).context("preparing the run")?;
    eprintln!(
        "train_base_more: {}; {} training and {} validation windows of {} tokens; output in {}",
        setup.description,
        setup.train.len(),
        setup.valid.len(),
        cfg.seq_len,
        cfg.output.display()
    );
    let mut options = cfg.fit_options(device, stop)?;
    options.tensorboard = !args.no_tensorboard;
    let width = setup.model.hybrid.config().gpt2.n_embd;
    let model = HybridWithGaussianPhi::new(setup.model, gaussian_phi_log(&cfg, width)?);
    let mut trainer = match &setup.resume_from {
        Some(path) => {
            eprintln!("resuming from {}", path.display());
            Trainer::resume(model, path, options)?
        }
        None => Trainer::new(model, options)?,
    };
    let steps_taken = trainer.global_step();
    trainer.model_mut().set_steps_taken(steps_taken);
    let outcome = trainer.fit(&setup.train, &setup.valid)?;
    match outcome.reason {
        StopReason::Interrupted => eprintln!("interrupted: {}", outcome.resume_hint()),
        reason => eprintln!(
            "finished ({reason:?}) after {} steps; best validation loss {}; checkpoints in {}",
            outcome.global_step,
            outcome
                .best_val_loss
                .map_or("n/a".to_string(), |v| format!("{v:.4}")),
            outcome.last_checkpoint.parent().map_or_else(
                || cfg.output.display().to_string(),
                |p| p.display().to_string()
            )
        ),
    }
    Ok(())
}

fn main() -> ExitCode {
    report(run(parse_command_line::<Args>(env!("CARGO_BIN_NAME"))))
}
