//! Autoregressive generation: decoders that turn the tokens fed so far into next-token logits
//! (GPT-2 with or without LoRA, and the INFINITO hybrid), and the decoding loop that draws tokens
//! with a [`Sampler`].
//!
//! The hybrid's logits are `lm_head(h + 0.4 · memory_read(mean_t h))`: the memory read-out of the
//! mean final hidden state of the whole sequence is added at every position. With a causal
//! GPT-2 the hidden states of earlier positions never change, so [`HybridDecoder`] keeps a KV
//! cache and a running sum of the hidden states, and the logits of the newest position equal
//! those of a full evaluation-mode [`Hybrid::forward`] of the sequence so far (no exploration
//! noise in evaluation). PHI needs the whole sequence and its attention; [`phi_trace`] computes it
//! per step with full forwards.

use std::collections::HashMap;
use std::time::Instant;

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;

use crate::error::{ModelError, Result};
use crate::gpt2::{AttentionCapture, Gpt2, KvCache};
use crate::hybrid::Hybrid;
use crate::memory::PhiMemory;
use crate::nn::Mode;
use crate::sampling::{Sampler, SamplingConfig};

/// Slots the hybrid retrieves per read (its `TOP_K`).
const MEMORY_TOP_K: usize = 5;
/// Weight of the memory read-out added to the hidden states (the hybrid's `MEMORY_SCALE`).
const MEMORY_SCALE: f64 = 0.4;

/// A model that consumes tokens one chunk at a time and predicts the next one.
pub trait Decoder {
    /// The longest sequence the model can attend to.
    fn max_positions(&self) -> usize;
    /// Forgets every token fed so far.
    fn reset(&mut self);
    /// Appends `ids` to the sequence and returns the logits `(V,)` of the token that follows.
    fn feed(&mut self, ids: &[u32]) -> Result<Tensor>;
}

/// Logits `(V,)` of the last position of `hidden` `(1, T, D)`; the head is applied to that
/// position only.
fn last_logits(model: &Gpt2, hidden: &Tensor) -> Result<Tensor> {
    let last = hidden.narrow(1, hidden.dim(1)? - 1, 1)?;
    Ok(model.lm_head(&last)?.flatten_all()?)
}

fn ids_tensor(model: &Gpt2, ids: &[u32]) -> Result<Tensor> {
    Ok(Tensor::new(ids, model.device())?.unsqueeze(0)?)
}

/// GPT-2 (with its adapters, in evaluation mode), with a KV cache or re-running the whole
/// sequence at every step.
pub struct Gpt2Decoder<'a> {
    model: &'a Gpt2,
    cache: Option<KvCache>,
    seen: Vec<u32>,
}

impl<'a> Gpt2Decoder<'a> {
    /// A decoder over `model`; `use_cache` feeds only new tokens through the transformer.
    pub fn new(model: &'a Gpt2, use_cache: bool) -> Self {
        Self {
            model,
            cache: use_cache.then(KvCache::new),
            seen: Vec::new(),
        }
    }
}

impl Decoder for Gpt2Decoder<'_> {
    fn max_positions(&self) -> usize {
        self.model.config().n_positions
    }

    fn reset(&mut self) {
        if let Some(cache) = &mut self.cache {
            *cache = KvCache::new();
        }
        self.seen.clear();
    }

    fn feed(&mut self, ids: &[u32]) -> Result<Tensor> {
        self.seen.extend_from_slice(ids);
        let input = match self.cache {
            Some(_) => ids,
            None => &self.seen,
        };
        let out = self.model.forward(
            &ids_tensor(self.model, input)?,
            Mode::Eval,
            AttentionCapture::None,
            self.cache.as_mut(),
        )?;
        last_logits(self.model, &out.hidden)
    }
}

/// The hybrid in evaluation mode with a KV cache: its GPT-2 (with LoRA), a private copy of its
/// memory (reads count accesses; the model's own memory is left as it was), and the running sum
/// of final hidden states for the memory query.
pub struct HybridDecoder<'a> {
    gpt2: &'a Gpt2,
    memory: PhiMemory,
    cache: KvCache,
    hidden_sum: Option<Tensor>,
    positions: usize,
}

impl<'a> HybridDecoder<'a> {
    /// A decoder over `hybrid` as it is now (trained weights and memory contents).
    pub fn new(hybrid: &'a Hybrid) -> Result<Self> {
        Ok(Self {
            gpt2: hybrid.gpt2(),
            memory: copy_memory(hybrid)?,
            cache: KvCache::new(),
            hidden_sum: None,
            positions: 0,
        })
    }
}

/// A copy of the hybrid's memory: same projection weights and buffers.
fn copy_memory(hybrid: &Hybrid) -> Result<PhiMemory> {
    let source = hybrid.memory();
    let device = hybrid.gpt2().device();
    let proj = source.query_proj();
    let bias = proj
        .bias()
        .ok_or_else(|| ModelError::Input("the memory's query projection has no bias".into()))?;
    let weights = HashMap::from([
        ("query_proj.weight".to_string(), proj.weight().detach()),
        ("query_proj.bias".to_string(), bias.detach()),
    ]);
    let mut copy = PhiMemory::new(
        hybrid.config().memory_slots,
        hybrid.config().gpt2.n_embd,
        VarBuilder::from_tensors(weights, DType::F32, device),
    )?;
    copy.load_buffers(&source.buffers(device)?, "")?;
    Ok(copy)
}

impl Decoder for HybridDecoder<'_> {
    fn max_positions(&self) -> usize {
        self.gpt2.config().n_positions
    }

    fn reset(&mut self) {
        self.cache = KvCache::new();
        self.hidden_sum = None;
        self.positions = 0;
    }

    fn feed(&mut self, ids: &[u32]) -> Result<Tensor> {
        let out = self.gpt2.forward(
            &ids_tensor(self.gpt2, ids)?,
            Mode::Eval,
            AttentionCapture::None,
            Some(&mut self.cache),
        )?;
        let chunk_sum = out.hidden.sum(1)?;
        let sum = match self.hidden_sum.take() {
            Some(previous) => (previous + chunk_sum)?,
            None => chunk_sum,
        };
        self.positions += ids.len();
        let query = (&sum / self.positions as f64)?;
        self.hidden_sum = Some(sum);
        let read = self.memory.read(&query, MEMORY_TOP_K)?;
        let last = out.hidden.narrow(1, out.hidden.dim(1)? - 1, 1)?;
        let enhanced = if read.used == 0 {
            last
        } else {
            last.broadcast_add(&(read.readout * MEMORY_SCALE)?.unsqueeze(1)?)?
        };
        Ok(self.gpt2.lm_head(&enhanced)?.flatten_all()?)
    }
}

/// Why decoding ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// `max_new_tokens` were generated.
    Length,
    /// The stop token was generated (it is the last of the new tokens).
    StopToken,
    /// The model's context (`n_positions`) is full.
    Context,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopReason::Length => "length",
            StopReason::StopToken => "stop token",
            StopReason::Context => "context full",
        })
    }
}

/// Limits of one generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerationLimits {
    /// New tokens to generate at most.
    pub max_new_tokens: usize,
    /// Stop right after generating this token (e.g. end-of-text).
    pub stop_token: Option<u32>,
}

/// What one generation produced (JSON names in parentheses).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Generation {
    /// The new tokens, without the prompt (`token_ids`).
    #[serde(rename = "token_ids")]
    pub tokens: Vec<u32>,
    /// `log p(token)` of each new token under the model's own distribution (before the
    /// repetition penalty, temperature and filters).
    pub logprobs: Vec<f32>,
    /// A hybrid's PHI after each new token when traced (see [`phi_trace`]), else empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phi: Vec<f32>,
    /// Why decoding ended.
    pub stop: StopReason,
    /// Seconds spent on the prompt, up to the first new token's logits (`prefill_s`).
    #[serde(rename = "prefill_s")]
    pub prefill_seconds: f64,
    /// Seconds spent on every later step (`decode_s`).
    #[serde(rename = "decode_s")]
    pub decode_seconds: f64,
}

impl Generation {
    /// New tokens per second, prompt processing included.
    pub fn tokens_per_second(&self) -> f64 {
        self.tokens.len() as f64 / (self.prefill_seconds + self.decode_seconds).max(1e-9)
    }
}

/// Natural log-probability of `token` under `logits` `(V,)`.
fn log_prob(logits: &[f32], token: u32) -> f32 {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| ((l - max) as f64).exp()).sum();
    (logits[token as usize] - max) - sum.ln() as f32
}

/// Continues `prompt` with tokens chosen by `sampler` until `limits` or the model's context end
/// it. The decoder is reset first.
pub fn generate(
    decoder: &mut dyn Decoder,
    prompt: &[u32],
    limits: GenerationLimits,
    sampler: &mut Sampler,
) -> Result<Generation> {
    if prompt.is_empty() {
        return Err(ModelError::Input("the prompt has no tokens".to_string()));
    }
    let context = decoder.max_positions();
    if prompt.len() > context {
        return Err(ModelError::Input(format!(
            "the prompt has {} tokens, more than the model's context of {context}",
            prompt.len()
        )));
    }
    decoder.reset();
    let mut ids = prompt.to_vec();
    let mut generation = Generation {
        tokens: Vec::new(),
        logprobs: Vec::new(),
        phi: Vec::new(),
        stop: StopReason::Length,
        prefill_seconds: 0.0,
        decode_seconds: 0.0,
    };
    let start = Instant::now();
    let mut pending = prompt.len();
    while generation.tokens.len() < limits.max_new_tokens {
        if ids.len() >= context {
            generation.stop = StopReason::Context;
            break;
        }
        let logits = decoder.feed(&ids[ids.len() - pending..])?;
        if generation.tokens.is_empty() {
            generation.prefill_seconds = start.elapsed().as_secs_f64();
        }
        let token = sampler.next_token(&logits, &ids)?;
        generation
            .logprobs
            .push(log_prob(&logits.to_vec1::<f32>()?, token));
        generation.tokens.push(token);
        ids.push(token);
        pending = 1;
        if limits.stop_token == Some(token) {
            generation.stop = StopReason::StopToken;
            break;
        }
    }
    generation.decode_seconds = start.elapsed().as_secs_f64() - generation.prefill_seconds;
    Ok(generation)
}

/// Appends up to `max_new` greedily chosen tokens to `prompt` (never past `n_positions`).
/// With `use_cache` each step feeds only the newest token; without it the whole sequence is re-run.
pub fn greedy(model: &Gpt2, prompt: &[u32], max_new: usize, use_cache: bool) -> Result<Vec<u32>> {
    let mut decoder = Gpt2Decoder::new(model, use_cache);
    let mut sampler = Sampler::new(SamplingConfig::greedy(1.0), 0)?;
    let limits = GenerationLimits {
        max_new_tokens: max_new,
        stop_token: None,
    };
    let generation = generate(&mut decoder, prompt, limits, &mut sampler)?;
    Ok([prompt, &generation.tokens].concat())
}

/// The hybrid's PHI (`phi_estimate`, evaluation mode) of `ids[..n]` for every `n` in
/// `from..=ids.len()`: one full forward per prefix, so step `i` of a generation that started
/// from a prompt of `p` tokens is PHI of the text once its `i`-th new token is added (`from = p + 1`).
pub fn phi_trace(hybrid: &mut Hybrid, ids: &[u32], from: usize) -> Result<Vec<f32>> {
    let device = hybrid.gpt2().device().clone();
    (from.max(1)..=ids.len())
        .map(|n| {
            let input = Tensor::new(&ids[..n], &device)?.unsqueeze(0)?;
            let out = hybrid.forward(&input, Mode::Eval)?;
            Ok(out
                .phi
                .phi_estimate
                .flatten_all()?
                .get(0)?
                .to_scalar::<f32>()?)
        })
        .collect()
}

/// A model to generate with: GPT-2 (with its adapters) or a trained hybrid.
pub enum Generator {
    Gpt2(Box<Gpt2>),
    Hybrid(Box<Hybrid>),
}

impl Generator {
    /// Size of the model's vocabulary.
    pub fn vocab_size(&self) -> usize {
        match self {
            Generator::Gpt2(m) => m.config().vocab_size,
            Generator::Hybrid(h) => h.config().gpt2.vocab_size,
        }
    }

    /// `count` continuations of `prompt`, drawn one after the other from `sampler` with the KV
    /// cache; with `trace_phi`, a hybrid's continuations carry PHI after each new token.
    pub fn continuations(
        &mut self,
        prompt: &[u32],
        count: usize,
        limits: GenerationLimits,
        sampler: &mut Sampler,
        trace_phi: bool,
    ) -> Result<Vec<Generation>> {
        let mut generations = {
            let mut decoder: Box<dyn Decoder + '_> = match self {
                Generator::Gpt2(m) => Box::new(Gpt2Decoder::new(m, true)),
                Generator::Hybrid(h) => Box::new(HybridDecoder::new(h)?),
            };
            (0..count)
                .map(|_| generate(decoder.as_mut(), prompt, limits, sampler))
                .collect::<Result<Vec<_>>>()?
        };
        if let (Generator::Hybrid(h), true) = (self, trace_phi) {
            for g in &mut generations {
                let ids = [prompt, &g.tokens].concat();
                g.phi = phi_trace(h, &ids, prompt.len() + 1)?;
            }
        }
        Ok(generations)
    }
}
