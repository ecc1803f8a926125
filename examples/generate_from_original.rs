//! Loads a checkpoint of the original Python trainer (`infinito_gpt2_best.pt`, a dict with
//! `model_state_dict`) and continues a prompt with it, printing PHI after each new token.
//!
//! `cargo run --release -p infinito-examples --example generate_from_original -- [PATH.pt] [PROMPT]`
//!
//! Without a path it uses the small original-format checkpoint shipped with the tests (a tiny
//! random GPT-2, so its text is noise and it has no tokenizer: the token ids are printed).

use anyhow::Result;
use candle_core::Device;
use infinito_model::generate::{GenerationLimits, Generator};
use infinito_model::sampling::{Sampler, SamplingConfig};
use infinito_model::tokenizer;
use infinito_train::setup::load_for_eval;
use std::path::PathBuf;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../crates/infinito-model/tests/fixtures/original_hybrid.pt")
    });
    let prompt_text = args
        .next()
        .unwrap_or_else(|| "The nature of consciousness".into());

    // The importer maps the original's names (peft-wrapped GPT-2, memory, PHI nets) onto ours.
    let (hybrid, tokenizer) = load_for_eval(&path, &Device::Cpu)?;
    let vocab = hybrid.config().gpt2.vocab_size as u32;
    let prompt = match &tokenizer {
        Some(t) => tokenizer::encode(t, &prompt_text)?,
        None => vec![1 % vocab, 2 % vocab, 3 % vocab],
    };

    let mut generator = Generator::Hybrid(Box::new(hybrid));
    // The original's sampling settings: temperature 0.8, top-k 40, top-p 0.9, repetition 1.2.
    let mut sampler = Sampler::new(SamplingConfig::default(), 42)?;
    let limits = GenerationLimits {
        max_new_tokens: 20,
        stop_token: None,
    };
    let trace_phi = true;
    for generation in generator.continuations(&prompt, 2, limits, &mut sampler, trace_phi)? {
        match &tokenizer {
            Some(t) => println!("{}", tokenizer::decode(t, &generation.tokens)?),
            None => println!("token ids: {:?}", generation.tokens),
        }
        let phi: Vec<String> = generation.phi.iter().map(|p| format!("{p:.2}")).collect();
        println!("PHI after each token: {}", phi.join(" "));
    }
    Ok(())
}
