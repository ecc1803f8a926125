//! Fine-tunes GPT-2 with LoRA (and the hybrid's memory and PHI head) on your own text with the
//! project's trainer: validation, ReduceLROnPlateau, early stopping, checkpoints and exact resume
//! come with it.
//!
//! `cargo run --release -p infinito-examples --example finetune_lora -- [GPT2_DIR] [TEXT_FILE]`
//!
//! `GPT2_DIR` is a Hugging Face GPT-2 directory (`config.json`, `model.safetensors`, tokenizer
//! files); without one, the small built-in model is trained from scratch. `TEXT_FILE` is any
//! text file or directory; without one, a few paragraphs written here are used.

use anyhow::Result;
use candle_core::Device;
use infinito_train::setup::prepare;
use infinito_train::{RunConfig, Trainer};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

const OWN_TEXT: &str = "The river rose in the spring and the village moved its boats to the hill.
Each year the water came back, and each year the people learned a little more about it.
They wrote down the height of the flood on the wall of the mill, one line for every spring.
After a hundred years the wall was full of lines, and the children could read the river's history.
";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let model = args.next();
    let work = std::env::temp_dir().join("infinito-finetune-example");
    std::fs::create_dir_all(&work)?;
    let data = match args.next() {
        Some(path) => PathBuf::from(path),
        None => {
            let path = work.join("own_text.txt");
            std::fs::write(&path, OWN_TEXT.repeat(40))?;
            path
        }
    };

    // Every option of `train_base_more` is a field of RunConfig; the rest keep their defaults.
    let mut cfg = RunConfig {
        model,
        data: Some(data),
        epochs: 2,
        batch_size: 4,
        seq_len: 32,
        lr: 1e-3,
        lora_r: 8,
        output: work.join("run"),
        overwrite: true,
        ..RunConfig::default()
    };
    cfg.validate()?;
    let device = Device::Cpu;
    let setup = prepare(&mut cfg, &device)?;
    println!("{}", setup.description);

    // The stop flag is what Ctrl+C sets in the binaries (`interrupt::install_ctrlc_handler`).
    let stop = Arc::new(AtomicBool::new(false));
    let mut trainer = Trainer::new(setup.model, cfg.fit_options(device, stop)?)?;
    let outcome = trainer.fit(&setup.train, &setup.valid)?;
    let history = trainer.history();
    for (epoch, (ppl, phi)) in history.val_ppl.iter().zip(&history.val_phi).enumerate() {
        println!(
            "epoch {}: validation perplexity {ppl:.2}, PHI {phi:.2}",
            epoch + 1
        );
    }
    println!(
        "{} steps; best checkpoint: {:?}",
        outcome.global_step, outcome.best_checkpoint
    );
    Ok(())
}
