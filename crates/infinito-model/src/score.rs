//! Per-token log-probabilities of a token sequence, with a sliding window past `n_positions`.

use candle_core::{Tensor, D};

use crate::error::{ModelError, Result};
use crate::gpt2::Gpt2;

/// `log p(ids[i] | ids[..i])` for `i = 1..n`. Sequences longer than the context are scored with
/// windows of `n_positions` tokens advancing by half a window, each token conditioned on at least
/// half a window of context (the Hugging Face perplexity recipe).
pub fn token_logprobs(model: &Gpt2, ids: &[u32]) -> Result<Vec<f32>> {
    check_ids(ids, model.config().vocab_size)?;
    let window = model.config().n_positions;
    let stride = (window / 2).max(1);
    let mut out = Vec::with_capacity(ids.len() - 1);
    let mut begin = 0;
    loop {
        let end = (begin + window).min(ids.len());
        // Targets ids[first..end] are new in this window; the first window scores from index 1.
        let first = (out.len() + 1).max(begin + 1);
        out.extend(window_logprobs(model, &ids[begin..end], first - begin)?);
        if end == ids.len() {
            return Ok(out);
        }
        begin += stride;
    }
}

/// Checks that `ids` can be scored: at least two tokens, all inside the vocabulary.
pub fn check_ids(ids: &[u32], vocab: usize) -> Result<()> {
    if ids.len() < 2 {
        return Err(ModelError::Input(format!(
            "need at least 2 tokens to score, got {}",
            ids.len()
        )));
    }
    match ids.iter().find(|&&id| id as usize >= vocab) {
        Some(bad) => Err(ModelError::Input(format!(
            "token id {bad} is outside the vocabulary (size {vocab})"
        ))),
        None => Ok(()),
    }
}

/// Log-probs of `ids[from..]` given their prefixes inside this window.
fn window_logprobs(model: &Gpt2, ids: &[u32], from: usize) -> Result<Vec<f32>> {
    let input = Tensor::new(ids, model.device())?.unsqueeze(0)?;
    logprobs_from_logits(&model.logits(&input)?.squeeze(0)?, ids, from)
}

/// `log p(ids[i] | ids[..i])` for `i = from..n`, from the logits `(n, V)` of `ids`.
pub fn logprobs_from_logits(logits: &Tensor, ids: &[u32], from: usize) -> Result<Vec<f32>> {
    let n = ids.len();
    let logp = candle_nn::ops::log_softmax(&logits.narrow(0, from - 1, n - from)?, D::Minus1)?;
    let targets = Tensor::new(&ids[from..], logits.device())?.unsqueeze(1)?;
    Ok(logp.gather(&targets, 1)?.squeeze(1)?.to_vec1::<f32>()?)
}

/// Mean negative log-likelihood and perplexity of a list of token log-probabilities.
pub fn summarize(logprobs: &[f32]) -> (f64, f64) {
    let mean_nll = -logprobs.iter().map(|&l| l as f64).sum::<f64>() / logprobs.len().max(1) as f64;
    (mean_nll, mean_nll.exp())
}
