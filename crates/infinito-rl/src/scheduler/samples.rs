//! Text samples of the environment's model on fixed prompts, with their PHI, perplexity and
//! the generation-quality measures of `generate --report`.

use candle_core::Tensor;
use infinito_model::generate::{generate, Generation, GenerationLimits, HybridDecoder};
use infinito_model::hybrid::Hybrid;
use infinito_model::quality::Quality;
use infinito_model::sampling::{Sampler, SamplingConfig};
use infinito_model::{tokenizer, Mode};
use infinito_train::TrainError;
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::error::Result;

/// The prompts sampled during RL and by `compare_schedules`: the guide's three first.
pub const SAMPLE_PROMPTS: [&str; 3] = [
    "The nature of consciousness",
    "Artificial intelligence can",
    "In the beginning there was",
];

/// How samples are drawn: the original's sampling settings, a fixed seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleSettings {
    /// New tokens per prompt.
    pub max_new_tokens: usize,
    /// Seed of the sampler (the same for every sample set, so sets differ only by the model).
    pub seed: u64,
}

impl Default for SampleSettings {
    fn default() -> Self {
        Self {
            max_new_tokens: 40,
            seed: 0,
        }
    }
}

/// One prompt's continuation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptSample {
    /// The prompt.
    pub prompt: String,
    /// Prompt and continuation, decoded.
    pub text: String,
    /// PHI of the whole text (evaluation mode).
    pub phi: f64,
    /// Perplexity of the continuation's tokens under the model.
    pub perplexity: Option<f64>,
}

/// Samples of all prompts and their pooled quality.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleSet {
    /// One sample per prompt.
    pub samples: Vec<PromptSample>,
    /// Distinct-n, repeated-n-gram rate (n = 3) and perplexity over all continuations.
    pub quality: Quality,
}

/// Continues each of `prompts` with `hybrid` (its weights and memory as they are now).
pub fn sample_prompts(
    hybrid: &mut Hybrid,
    tokenizer: &Tokenizer,
    prompts: &[&str],
    settings: SampleSettings,
) -> Result<SampleSet> {
    let mut sampler = Sampler::new(SamplingConfig::default(), settings.seed).map_err(model)?;
    let limits = GenerationLimits {
        max_new_tokens: settings.max_new_tokens,
        stop_token: None,
    };
    let mut generations: Vec<Generation> = Vec::with_capacity(prompts.len());
    let mut samples = Vec::with_capacity(prompts.len());
    for prompt in prompts {
        let ids = tokenizer::encode(tokenizer, prompt).map_err(model)?;
        let generation = {
            let mut decoder = HybridDecoder::new(hybrid).map_err(model)?;
            generate(&mut decoder, &ids, limits, &mut sampler).map_err(model)?
        };
        let all = [ids.as_slice(), &generation.tokens].concat();
        let text = tokenizer::decode(tokenizer, &all).map_err(model)?;
        let input = Tensor::new(all.as_slice(), hybrid.gpt2().device())?.unsqueeze(0)?;
        let out = hybrid.forward(&input, Mode::Eval).map_err(model)?;
        let phi = out.phi.phi_estimate.mean_all()?.to_scalar::<f32>()? as f64;
        samples.push(PromptSample {
            prompt: prompt.to_string(),
            text,
            phi,
            perplexity: Quality::of(&[&generation], 3).perplexity,
        });
        generations.push(generation);
    }
    let refs: Vec<&Generation> = generations.iter().collect();
    Ok(SampleSet {
        samples,
        quality: Quality::of(&refs, 3),
    })
}

fn model(e: infinito_model::ModelError) -> crate::error::RlError {
    TrainError::model(e).into()
}
