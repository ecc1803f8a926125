//! Choosing the next token from a model's logits, in Hugging Face's order: repetition penalty,
//! temperature, top-k, top-p, then a draw (or the arg-max when greedy).
//!
//! The repetition penalty is candle-transformers' [`apply_repeat_penalty`] (CTRL/HF semantics:
//! positive logits divided, negative ones multiplied, each distinct context token once), and the
//! temperature, softmax and weighted draw are candle's [`LogitsProcessor`]. The top-k and top-p
//! filters are our own, applied to the probabilities through [`LogitsProcessor::sample_f`],
//! because candle's built-in ones differ from Hugging Face's `TopKLogitsWarper` /
//! `TopPLogitsWarper`: candle's top-k keeps exactly k tokens (HF keeps every token tied with the
//! k-th), and its top-k-then-top-p measures the nucleus mass against the whole vocabulary instead
//! of the renormalised top-k survivors, so it keeps more tokens than HF does.

use candle_core::Tensor;
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::utils::apply_repeat_penalty;

use crate::error::{ModelError, Result};

/// How the next token is chosen.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SamplingConfig {
    /// Take the most likely token (after the repetition penalty) instead of drawing one;
    /// temperature, top-k and top-p are then ignored, as in HF's `do_sample=False`.
    pub greedy: bool,
    /// Divides the logits before the softmax; must be positive.
    pub temperature: f64,
    /// Keep only the tokens at least as likely as the k-th most likely one; 0 disables.
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose mass reaches `top_p`; 1 disables.
    pub top_p: f64,
    /// CTRL repetition penalty over the prompt and the generated tokens; 1 disables.
    pub repetition_penalty: f32,
}

impl Default for SamplingConfig {
    /// The defaults of the original's generation scripts: temperature 0.8, top-k 40, top-p 0.9,
    /// repetition penalty 1.2.
    fn default() -> Self {
        Self {
            greedy: false,
            temperature: 0.8,
            top_k: 40,
            top_p: 0.9,
            repetition_penalty: 1.2,
        }
    }
}

impl SamplingConfig {
    /// Greedy decoding with the given repetition penalty.
    pub fn greedy(repetition_penalty: f32) -> Self {
        Self {
            greedy: true,
            repetition_penalty,
            ..Self::default()
        }
    }

    /// Checks the values (names the offending option in the message).
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(ModelError::Input(what));
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return bad(format!(
                "temperature {} must be a positive number",
                self.temperature
            ));
        }
        if !(0.0..=1.0).contains(&self.top_p) {
            return bad(format!("top-p {} must be in [0, 1]", self.top_p));
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return bad(format!(
                "repetition penalty {} must be a positive number",
                self.repetition_penalty
            ));
        }
        Ok(())
    }
}

/// Zeroes every probability below the `k`-th largest (ties with it are kept, like HF's
/// `TopKLogitsWarper`). `k = 0` or `k >= len` keeps everything.
pub fn top_k_filter(probs: &mut [f32], k: usize) {
    if k == 0 || k >= probs.len() {
        return;
    }
    let mut sorted = probs.to_vec();
    let (_, kth, _) = sorted.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    let kth = *kth;
    probs
        .iter_mut()
        .filter(|p| **p < kth)
        .for_each(|p| *p = 0.0);
}

/// Nucleus filter with HF's `TopPLogitsWarper` rule on the renormalised probabilities: sorted
/// ascending, a token is dropped when the cumulative mass up to and including it is at most
/// `1 - top_p`; the most likely token is always kept. `top_p >= 1` keeps everything.
pub fn top_p_filter(probs: &mut [f32], top_p: f64) {
    if top_p >= 1.0 {
        return;
    }
    let total: f64 = probs.iter().map(|&p| p as f64).sum();
    let mut order: Vec<usize> = (0..probs.len()).filter(|&i| probs[i] > 0.0).collect();
    order.sort_by(|&i, &j| probs[i].total_cmp(&probs[j]).then(i.cmp(&j)));
    let Some((_, rest)) = order.split_last() else {
        return;
    };
    let mut cumulative = 0.0;
    for &i in rest {
        cumulative += probs[i] as f64 / total;
        if cumulative > 1.0 - top_p {
            break;
        }
        probs[i] = 0.0;
    }
}

/// Picks next tokens with a [`SamplingConfig`] and its own seeded random stream.
pub struct Sampler {
    config: SamplingConfig,
    processor: LogitsProcessor,
}

impl Sampler {
    /// A sampler drawing from a stream seeded with `seed` (unused when greedy).
    pub fn new(config: SamplingConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let sampling = if config.greedy {
            Sampling::ArgMax
        } else {
            Sampling::All {
                temperature: config.temperature,
            }
        };
        Ok(Self {
            processor: LogitsProcessor::from_sampling(seed, sampling),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SamplingConfig {
        &self.config
    }

    /// The next token given the logits `(V,)` of the last position and every token so far
    /// (prompt included) for the repetition penalty.
    pub fn next_token(&mut self, logits: &Tensor, context: &[u32]) -> Result<u32> {
        let penalty = self.config.repetition_penalty;
        let penalized;
        let logits = if penalty == 1.0 {
            logits
        } else {
            penalized = apply_repeat_penalty(logits, penalty, context)?;
            &penalized
        };
        let (top_k, top_p) = (self.config.top_k, self.config.top_p);
        Ok(self.processor.sample_f(logits, |probs| {
            top_k_filter(probs, top_k);
            top_p_filter(probs, top_p);
        })?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
    }

    #[test]
    fn top_k_keeps_the_k_largest_and_their_ties() {
        let probs = [0.1, 0.4, 0.2, 0.2, 0.1];
        let mut p = probs;
        top_k_filter(&mut p, 2);
        assert_eq!(p, [0.0, 0.4, 0.2, 0.2, 0.0], "the tie with the 2nd is kept");
        let mut p = probs;
        top_k_filter(&mut p, 1);
        assert_eq!(p, [0.0, 0.4, 0.0, 0.0, 0.0]);
        for k in [0, 5, 9] {
            let mut p = probs;
            top_k_filter(&mut p, k);
            assert_eq!(p, probs, "k = {k} keeps everything");
        }
    }

    #[test]
    fn top_p_keeps_the_smallest_nucleus_reaching_p() {
        let probs = [0.5, 0.3, 0.15, 0.05];
        // ascending cumulative: 0.05, 0.20, 0.50, 1.0; dropped while <= 1 - p = 0.25
        let mut p = probs;
        top_p_filter(&mut p, 0.75);
        assert_eq!(p, [0.5, 0.3, 0.0, 0.0]);
        // 1 - p = 0.9 would drop everything: the most likely token is always kept
        for top_p in [0.1, 0.0] {
            let mut p = probs;
            top_p_filter(&mut p, top_p);
            assert_eq!(p, [0.5, 0.0, 0.0, 0.0], "top-p {top_p}");
        }
        let mut p = probs;
        top_p_filter(&mut p, 1.0);
        assert_eq!(p, probs);
    }

    #[test]
    fn top_p_measures_mass_among_the_top_k_survivors() {
        // After top-2: 0.4, 0.3 renormalise to 4/7, 3/7. With p = 0.55, 3/7 <= 0.45 is dropped
        // (measured against the whole vocabulary, 0.4 < 0.55 would have kept both).
        let mut p = [0.4, 0.3, 0.2, 0.1];
        top_k_filter(&mut p, 2);
        top_p_filter(&mut p, 0.55);
        assert_eq!(p, [0.4, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn repetition_penalty_divides_positive_and_multiplies_negative_logits_once() {
        let logits = Tensor::new(&[2.0f32, -2.0, 0.5, 1.0, 0.0], &Device::Cpu).unwrap();
        let out = apply_repeat_penalty(&logits, 2.0, &[0, 1, 1, 4]).unwrap();
        let out: Vec<f32> = out.to_vec1().unwrap();
        assert!(close(&out, &[1.0, -4.0, 0.5, 1.0, 0.0]), "{out:?}");
    }

    #[test]
    fn greedy_takes_the_arg_max_after_the_penalty() {
        let logits = Tensor::new(&[2.0f32, 1.5, -1.0], &Device::Cpu).unwrap();
        let mut s = Sampler::new(SamplingConfig::greedy(1.0), 0).unwrap();
        assert_eq!(s.next_token(&logits, &[0]).unwrap(), 0);
        let mut s = Sampler::new(SamplingConfig::greedy(2.0), 0).unwrap();
        assert_eq!(s.next_token(&logits, &[0]).unwrap(), 1, "2 / 2 < 1.5");
        let negative = Tensor::new(&[-1.0f32, -1.5, -3.0], &Device::Cpu).unwrap();
        let mut s = Sampler::new(SamplingConfig::greedy(2.0), 0).unwrap();
        assert_eq!(
            s.next_token(&negative, &[0]).unwrap(),
            1,
            "-1 * 2 < -1.5: a penalty never favours a seen token"
        );
    }

    fn frequencies(config: SamplingConfig, logits: &[f32], context: &[u32], n: usize) -> Vec<f64> {
        let logits = Tensor::new(logits, &Device::Cpu).unwrap();
        let mut s = Sampler::new(config, 7).unwrap();
        let mut counts = vec![0usize; logits.elem_count()];
        for _ in 0..n {
            counts[s.next_token(&logits, context).unwrap() as usize] += 1;
        }
        counts.iter().map(|&c| c as f64 / n as f64).collect()
    }

    #[test]
    fn temperature_sharpens_the_softmax() {
        // logits ln 4, ln 2, 0, 0 at temperature 0.5: p ~ 16, 4, 1, 1 (/22)
        let config = SamplingConfig {
            temperature: 0.5,
            top_k: 0,
            top_p: 1.0,
            repetition_penalty: 1.0,
            greedy: false,
        };
        let f = frequencies(config, &[4f32.ln(), 2f32.ln(), 0.0, 0.0], &[], 20_000);
        for (got, want) in f
            .iter()
            .zip([16.0 / 22.0, 4.0 / 22.0, 1.0 / 22.0, 1.0 / 22.0])
        {
            assert!((got - want).abs() < 0.015, "{f:?}");
        }
    }

    #[test]
    fn processing_order_is_penalty_temperature_top_k_top_p() {
        // penalty 2 on tokens 0, 3: 2, 1, 0.5, -1 -> 1, 1, 0.5, -2; temperature 0.5 -> 2, 2, 1, -4;
        // softmax ~ .4219 .4219 .1552 .0010; top-3 drops token 3; renormalised .4223 .4223 .1554;
        // top-p 0.8 drops .1554 (<= 0.2): tokens 0 and 1, one half each.
        let config = SamplingConfig {
            temperature: 0.5,
            top_k: 3,
            top_p: 0.8,
            repetition_penalty: 2.0,
            greedy: false,
        };
        let f = frequencies(config, &[2.0, 1.0, 0.5, -1.0], &[0, 3], 10_000);
        assert_eq!((f[2], f[3]), (0.0, 0.0), "{f:?}");
        assert!((f[0] - 0.5).abs() < 0.02, "{f:?}");
    }

    #[test]
    fn invalid_settings_are_rejected() {
        let bad = [
            SamplingConfig {
                temperature: 0.0,
                ..SamplingConfig::default()
            },
            SamplingConfig {
                top_p: 1.5,
                ..SamplingConfig::default()
            },
            SamplingConfig {
                repetition_penalty: -1.0,
                ..SamplingConfig::default()
            },
        ];
        for config in bad {
            assert!(Sampler::new(config.clone(), 0).is_err(), "{config:?}");
        }
    }
}
