//! The categorical action distribution over one row of logits (torch's `Categorical(logits=..)`).

use rand::Rng;

/// Normalised log-probabilities and probabilities of one row of logits.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Categorical {
    /// `logits - logsumexp(logits)`.
    pub(crate) log_probs: Vec<f32>,
    /// `softmax(logits)`.
    pub(crate) probs: Vec<f32>,
}

impl Categorical {
    /// The distribution of `logits` (finite values).
    pub(crate) fn new(logits: &[f32]) -> Self {
        let mut log_probs = vec![0.0; logits.len()];
        let mut probs = vec![0.0; logits.len()];
        normalise(logits, &mut log_probs, &mut probs);
        Self { log_probs, probs }
    }

    /// The most probable action (the first one on ties), SB3's deterministic action.
    pub(crate) fn mode(&self) -> usize {
        let mut best = 0;
        for (i, p) in self.probs.iter().enumerate() {
            if *p > self.probs[best] {
                best = i;
            }
        }
        best
    }

    /// An action drawn with these probabilities.
    pub(crate) fn sample(&self, rng: &mut impl Rng) -> usize {
        let u: f32 = rng.random();
        let mut cumulative = 0.0;
        for (i, p) in self.probs.iter().enumerate() {
            cumulative += p;
            if u < cumulative {
                return i;
            }
        }
        // Rounding can leave the total just below u: take the last action with mass.
        self.probs.iter().rposition(|p| *p > 0.0).unwrap_or(0)
    }
}

/// Writes `logits - logsumexp(logits)` and `softmax(logits)` of one row.
pub(crate) fn normalise(logits: &[f32], log_probs: &mut [f32], probs: &mut [f32]) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for (p, z) in probs.iter_mut().zip(logits) {
        *p = (z - max).exp();
        sum += *p;
    }
    let log_sum = max + sum.ln();
    for ((lp, p), z) in log_probs.iter_mut().zip(probs.iter_mut()).zip(logits) {
        *lp = z - log_sum;
        *p /= sum;
    }
}

/// The entropy `-Σ p log p` of one normalised row.
pub(crate) fn entropy(log_probs: &[f32], probs: &[f32]) -> f32 {
    -log_probs
        .iter()
        .zip(probs)
        .map(|(lp, p)| lp * p)
        .sum::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn normalisation_and_entropy_match_hand_computed_values() {
        // logits (0, ln 2, ln 5): probabilities 1/8, 2/8, 5/8.
        let d = Categorical::new(&[0.0, 2f32.ln(), 5f32.ln()]);
        let expected = [0.125f32, 0.25, 0.625];
        for (p, e) in d.probs.iter().zip(expected) {
            assert!((p - e).abs() < 1e-7);
        }
        for (lp, e) in d.log_probs.iter().zip(expected) {
            assert!((lp - e.ln()).abs() < 1e-6);
        }
        let h: f32 = -expected.iter().map(|p| p * p.ln()).sum::<f32>();
        assert!((entropy(&d.log_probs, &d.probs) - h).abs() < 1e-6);
        assert_eq!(d.mode(), 2);
        // Huge logits do not overflow.
        let d = Categorical::new(&[1000.0, 1000.0, -1000.0]);
        assert_eq!(d.probs, vec![0.5, 0.5, 0.0]);
        assert_eq!(d.mode(), 0);
    }

    #[test]
    fn samples_follow_the_probabilities() {
        let d = Categorical::new(&[0.0, 2f32.ln(), 5f32.ln()]);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut counts = [0usize; 3];
        let n = 40_000;
        for _ in 0..n {
            counts[d.sample(&mut rng)] += 1;
        }
        for (c, e) in counts.iter().zip([0.125, 0.25, 0.625]) {
            let freq = *c as f64 / n as f64;
            // 5 standard deviations of a binomial frequency.
            assert!(
                (freq - e).abs() < 5.0 * (e * (1.0 - e) / n as f64).sqrt(),
                "{counts:?}"
            );
        }
        let never = Categorical::new(&[0.0, -200.0]);
        assert!((0..1000).all(|_| never.sample(&mut rng) == 0));
    }
}
