//! Run configuration (files, flags, validation) and the built-in corpus and tokenizer.

use clap::{CommandFactory, FromArgMatches, Parser};
use infinito_train::builtin;
use infinito_train::{Band, OptimizerConfig, PhiGrad, PhiLoss, RunConfig, RunFlags, TrainError};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Like the binaries: negative numbers are values, so the range checks see them.
#[derive(Parser)]
#[command(allow_negative_numbers = true)]
struct Cli {
    #[command(flatten)]
    run: RunFlags,
}

/// Parsed flags and which of them were given.
struct Parsed {
    flags: RunFlags,
    matches: clap::ArgMatches,
}

impl Parsed {
    fn resolve(&self) -> Result<RunConfig, TrainError> {
        self.flags.resolve(&RunConfig::default(), &self.matches)
    }
}

fn args(list: &[&str]) -> Result<Parsed, clap::Error> {
    let matches = Cli::command()
        .try_get_matches_from(std::iter::once("train_base_more").chain(list.iter().copied()))?;
    let flags = Cli::from_arg_matches(&matches)?.run;
    Ok(Parsed { flags, matches })
}

fn one_line(err: &TrainError) -> String {
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "multi-line message: {msg}");
    msg
}

fn write(dir: &Path, name: &str, text: &str) -> std::io::Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path)
}

#[test]
fn defaults_match_the_guide() -> TestResult {
    let c = args(&[])?.resolve()?;
    assert_eq!(c, RunConfig::default());
    assert_eq!(
        (c.epochs, c.batch_size, c.lr, c.lambda_phi),
        (20, 16, 2e-4, 0.6)
    );
    assert_eq!(
        (
            c.lora_r,
            c.lora_alpha,
            c.patience,
            c.seq_len,
            c.memory_slots
        ),
        (8, 32.0, 5, 256, 256)
    );
    assert_eq!((c.seed, c.device.as_str(), c.phi_target), (42, "cpu", 6.0));
    assert_eq!((c.phi_grad, c.phi_loss), (PhiGrad::Model, PhiLoss::Band));
    assert_eq!(c.phi_band, Band([3.0, 6.0]));
    assert_eq!(
        (c.min_delta, c.optimizer),
        (
            0.01,
            OptimizerConfig {
                adam_beta1: 0.9,
                adam_beta2: 0.98,
                adam_epsilon: 1e-8,
                weight_decay: 0.01,
                max_grad_norm: 1.0,
            }
        )
    );
    assert_eq!(c.output, PathBuf::from("runs/train_base_more"));
    assert!(
        c.model.is_none() && c.data.is_none() && c.checkpoint.is_none() && c.max_steps.is_none()
    );
    Ok(())
}

#[test]
fn config_files_are_read_and_flags_override_them() -> TestResult {
    let dir = tempfile::tempdir()?;
    let toml = write(
        dir.path(),
        "run.toml",
        "epochs = 3\nbatch_size = 8\nlr = 1\nphi_loss = \"squared\"\neval_every = 50\n\
         [optimizer]\nweight_decay = 0.0\nadam_beta2 = 0.9\n",
    )?;
    let c = args(&[
        "--config",
        toml.to_str().ok_or("path")?,
        "--batch-size",
        "4",
        "--phi-grad",
        "none",
        "--adam-beta2",
        "0.95",
        // A flag given at its default value still wins over the file.
        "--epochs",
        "20",
    ])?
    .resolve()?;
    assert_eq!(
        (c.optimizer.weight_decay, c.optimizer.adam_beta2, c.epochs),
        (0.0, 0.95, 20)
    );
    assert_eq!((c.batch_size, c.lr, c.eval_every), (4, 1.0, Some(50)));
    assert_eq!((c.phi_loss, c.phi_grad), (PhiLoss::Squared, PhiGrad::None));
    assert_eq!(c.seq_len, 256, "unset fields keep their defaults");
    let c = args(&["--config", toml.to_str().ok_or("path")?])?.resolve()?;
    assert_eq!(
        (c.epochs, c.batch_size, c.optimizer.adam_beta2),
        (3, 8, 0.9)
    );

    let json = write(
        dir.path(),
        "run.json",
        r#"{"seed": 7, "device": "cuda:1", "max_steps": 10}"#,
    )?;
    let c = RunConfig::load(&json)?;
    assert_eq!(
        (c.seed, c.device.as_str(), c.max_steps),
        (7, "cuda:1", Some(10))
    );

    // The saved form reads back to the same config.
    let saved = write(dir.path(), "config.json", &serde_json::to_string(&c)?)?;
    assert_eq!(RunConfig::load(&saved)?, c);
    Ok(())
}

#[test]
fn bad_config_files_name_the_file_and_line() -> TestResult {
    let dir = tempfile::tempdir()?;
    let unknown = write(dir.path(), "a.toml", "epochs = 3\nbatch = 8\n")?;
    let msg = one_line(&RunConfig::load(&unknown).err().ok_or("expected an error")?);
    assert!(
        msg.contains("a.toml: line 2") && msg.contains("batch"),
        "{msg}"
    );

    let wrong_type = write(dir.path(), "b.json", r#"{"epochs": "many"}"#)?;
    let msg = one_line(
        &RunConfig::load(&wrong_type)
            .err()
            .ok_or("expected an error")?,
    );
    assert!(msg.contains("b.json") && msg.contains("line 1"), "{msg}");

    let bad_enum = write(dir.path(), "c.toml", "phi_grad = \"some\"\n")?;
    let msg = one_line(
        &RunConfig::load(&bad_enum)
            .err()
            .ok_or("expected an error")?,
    );
    assert!(
        msg.contains("c.toml: line 1") && msg.contains("all"),
        "{msg}"
    );

    let yaml = write(dir.path(), "d.yaml", "epochs: 3\n")?;
    let msg = one_line(&RunConfig::load(&yaml).err().ok_or("expected an error")?);
    assert!(
        msg.contains("d.yaml") && msg.contains(".toml or .json"),
        "{msg}"
    );

    let msg = one_line(
        &RunConfig::load(&dir.path().join("none.toml"))
            .err()
            .ok_or("expected an error")?,
    );
    assert!(
        msg.contains("none.toml") && msg.contains("no such file"),
        "{msg}"
    );
    Ok(())
}

#[test]
fn bad_values_give_one_line_errors_naming_the_flag() -> TestResult {
    let check = |list: &[&str], expected: &str| -> TestResult {
        let err = args(list)?.resolve().err().ok_or("expected an error")?;
        assert_eq!(one_line(&err), expected);
        Ok(())
    };
    check(&["--batch-size", "0"], "--batch-size 0: must be >= 1")?;
    check(&["--lr", "-1"], "--lr -1: must be a finite number > 0")?;
    check(&["--lr", "0"], "--lr 0: must be a finite number > 0")?;
    check(&["--adam-beta1", "1"], "--adam-beta1 1: must be in [0, 1)")?;
    check(
        &["--max-grad-norm", "0"],
        "--max-grad-norm 0: must be a finite number > 0",
    )?;
    check(
        &["--weight-decay", "-1"],
        "--weight-decay -1: must be a finite number >= 0",
    )?;
    check(&["--epochs", "0"], "--epochs 0: must be >= 1")?;
    check(
        &["--lambda-phi", "-0.5"],
        "--lambda-phi -0.5: must be a finite number >= 0",
    )?;
    check(&["--seq-len", "0"], "--seq-len 0: must be >= 1")?;
    check(
        &["--device", "tpu"],
        "--device tpu: must be cpu, cuda or cuda:N",
    )?;
    check(&["--save-every", "0"], "--save-every 0: must be >= 1")?;
    check(&["--max-steps", "0"], "--max-steps 0: must be >= 1")?;
    check(
        &["--data", "/no/such/corpus"],
        "--data /no/such/corpus: must be an existing file or directory, wikitext-2-raw-v1, wikitext-2-v1, wikitext-103-raw-v1, wikitext-103-v1, or hf:org/name[:config]",
    )?;
    // Unparseable values are clap's errors (exit status 2).
    let err = args(&["--batch-size", "-3"])
        .err()
        .ok_or("expected an error")?;
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("--batch-size"), "{err}");
    Ok(())
}

#[test]
fn the_config_becomes_trainer_options() -> TestResult {
    let c = args(&["--epochs", "2", "--save-every", "100", "--seed", "9"])?.resolve()?;
    let stop = Arc::new(AtomicBool::new(false));
    let opts = c.fit_options(candle_core::Device::Cpu, Arc::clone(&stop))?;
    assert_eq!(
        (opts.epochs, opts.save_every, opts.seed, opts.phi_target),
        (2, Some(100), 9, 6.0)
    );
    assert!(Arc::ptr_eq(&opts.stop, &stop));
    assert_eq!(opts.run_config["epochs"], 2);
    assert_eq!(opts.run_config["phi_grad"], "model");
    assert_eq!(opts.run_config["phi_band"], serde_json::json!([3.0, 6.0]));
    opts.validate()?;
    Ok(())
}

#[test]
fn builtin_tokenizer_is_deterministic_and_round_trips() -> TestResult {
    let a = builtin::tokenizer(512)?;
    let b = builtin::tokenizer(512)?;
    assert_eq!(a.to_string(false)?, b.to_string(false)?);
    assert_eq!(a.get_vocab_size(true), 512);
    assert_eq!(a.token_to_id(builtin::EOS_TOKEN), Some(0));
    for text in [
        "The model reads the next token.",
        "  two spaces, tabs\tand ünïcödé ✓\n",
        "Seven plus four is eleven.",
    ] {
        let ids = a.encode(text, false)?.get_ids().to_vec();
        assert_eq!(a.decode(&ids, false)?, text);
    }
    // Merges make the corpus's own words short.
    let ids = a.encode("The model reads the next token.", false)?;
    assert!(ids.len() <= 10, "{:?}", ids.get_tokens());

    let big = builtin::tokenizer(1536)?;
    assert_eq!(big.get_vocab_size(true), 1536);
    // Beyond what the corpus can merge, the vocabulary stops growing.
    let n = builtin::tokenizer(8192)?.get_vocab_size(true);
    assert!((1536..8192).contains(&n), "{n}");
    let msg = one_line(&builtin::tokenizer(100).err().ok_or("expected an error")?);
    assert!(msg.contains("vocab_size") && msg.contains("257"), "{msg}");
    Ok(())
}

#[test]
fn builtin_corpus_is_deterministic_and_held_out() -> TestResult {
    let corpus = builtin::corpus();
    assert_eq!(corpus, builtin::corpus());
    assert!(corpus.starts_with("# Training the base model"));
    assert!(corpus.len() > 200_000, "{} bytes", corpus.len());
    let valid = builtin::validation_corpus();
    assert!(valid.len() > 20_000);
    assert!(
        !corpus.contains(&valid[..200]),
        "validation text appears in the training text"
    );

    let tokenizer = builtin::tokenizer(1024)?;
    let (train, valid) = builtin::datasets(&tokenizer, 64)?;
    assert!(
        train.len() > 500 && valid.len() > 50,
        "{} / {}",
        train.len(),
        valid.len()
    );
    Ok(())
}
