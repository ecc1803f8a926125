//! Greedy decoding with or without the KV cache.

use candle_core::{Tensor, D};

use crate::error::{ModelError, Result};
use crate::gpt2::{AttentionCapture, Gpt2, KvCache};
use crate::nn::Mode;

/// Appends up to `max_new` greedily chosen tokens to `prompt` (never past `n_positions`).
/// With `use_cache` each step feeds only the newest token; without it the whole sequence is re-run.
pub fn greedy(model: &Gpt2, prompt: &[u32], max_new: usize, use_cache: bool) -> Result<Vec<u32>> {
    if prompt.is_empty() {
        return Err(ModelError::Input("the prompt has no tokens".to_string()));
    }
    let device = model.device();
    let target = (prompt.len() + max_new).min(model.config().n_positions);
    let mut ids = prompt.to_vec();
    let mut cache = use_cache.then(KvCache::new);
    let mut fed = 0;
    while ids.len() < target {
        let start = if use_cache { fed } else { 0 };
        let input = Tensor::new(&ids[start..], device)?.unsqueeze(0)?;
        let out = model.forward(&input, Mode::Eval, AttentionCapture::None, cache.as_mut())?;
        fed = ids.len();
        let last = out.hidden.narrow(1, out.hidden.dim(1)? - 1, 1)?;
        ids.push(
            model
                .lm_head(&last)?
                .flatten_all()?
                .argmax(D::Minus1)?
                .to_scalar::<u32>()?,
        );
    }
    Ok(ids)
}
