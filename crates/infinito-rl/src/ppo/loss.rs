//! The PPO loss of one minibatch (SB3's `PPO.train`) and its gradient w.r.t. logits and values.

use super::categorical::{entropy, normalise};

/// The rollout data of one minibatch, row-aligned with the logits and values.
pub(crate) struct MinibatchTargets<'a> {
    pub(crate) actions: &'a [usize],
    pub(crate) old_log_probs: &'a [f32],
    pub(crate) old_values: &'a [f32],
    /// Raw advantages (normalised here when asked).
    pub(crate) advantages: &'a [f32],
    pub(crate) returns: &'a [f32],
}

/// Coefficients of the loss at the current progress.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LossCoefficients {
    pub(crate) clip_range: f64,
    pub(crate) clip_range_vf: Option<f64>,
    pub(crate) ent_coef: f64,
    pub(crate) vf_coef: f64,
    pub(crate) normalize_advantage: bool,
}

/// The loss terms of one minibatch, as SB3 logs them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LossTerms {
    pub(crate) policy_loss: f32,
    pub(crate) value_loss: f32,
    pub(crate) entropy_loss: f32,
    pub(crate) loss: f32,
    pub(crate) approx_kl: f32,
    pub(crate) clip_fraction: f32,
}

/// Computes `loss = policy_loss + ent_coef·entropy_loss + vf_coef·value_loss` for a minibatch of
/// `logits` (`[B, n_actions]`) and `values` (`[B]`), and writes its gradient w.r.t. the logits
/// and values into `d_logits` and `d_values`.
///
/// Follows torch's derivatives exactly, including `min` splitting the gradient in half between
/// equal arguments and `clamp` passing it at the bounds.
pub(crate) fn ppo_loss(
    logits: &[f32],
    values: &[f32],
    targets: &MinibatchTargets<'_>,
    coefs: LossCoefficients,
    d_logits: &mut [f32],
    d_values: &mut [f32],
) -> LossTerms {
    let batch = values.len();
    let n_actions = logits.len() / batch;
    let inv_b = 1.0 / batch as f32;
    let advantages = normalised_advantages(targets.advantages, coefs.normalize_advantage);
    let (low, high) = (
        (1.0 - coefs.clip_range) as f32,
        (1.0 + coefs.clip_range) as f32,
    );
    let clip = coefs.clip_range as f32;
    let ent_coef = coefs.ent_coef as f32;
    let vf_coef = coefs.vf_coef as f32;
    let mut log_probs = vec![0.0f32; n_actions];
    let mut probs = vec![0.0f32; n_actions];
    let (mut policy_sum, mut value_sum, mut entropy_sum) = (0.0f32, 0.0f32, 0.0f32);
    let (mut kl_sum, mut clipped) = (0.0f32, 0usize);
    for i in 0..batch {
        let row = i * n_actions..(i + 1) * n_actions;
        normalise(&logits[row.clone()], &mut log_probs, &mut probs);
        let h = entropy(&log_probs, &probs);
        entropy_sum += h;
        let action = targets.actions[i];
        let log_ratio = log_probs[action] - targets.old_log_probs[i];
        let ratio = log_ratio.exp();
        kl_sum += (ratio - 1.0) - log_ratio;
        if (ratio - 1.0).abs() > clip {
            clipped += 1;
        }
        let a = advantages[i];
        let unclipped = a * ratio;
        let in_range = (low..=high).contains(&ratio);
        let clipped_term = a * ratio.clamp(low, high);
        // d min(u, c) / d ratio, with torch's half-half split on ties.
        let d_min = if unclipped < clipped_term {
            a
        } else if unclipped > clipped_term {
            if in_range {
                a
            } else {
                0.0
            }
        } else {
            0.5 * a + if in_range { 0.5 * a } else { 0.0 }
        };
        policy_sum -= unclipped.min(clipped_term);
        // d policy_loss / d log_prob = -(1/B) · d_min · ratio.
        let d_log_prob = -inv_b * d_min * ratio;
        let d_row = &mut d_logits[row];
        for j in 0..n_actions {
            let one_hot = if j == action { 1.0 } else { 0.0 };
            // entropy_loss = -mean(H); dH/dz_j = -p_j (log p_j + H).
            let d_entropy_loss = inv_b * probs[j] * (log_probs[j] + h);
            d_row[j] = d_log_prob * (one_hot - probs[j]) + ent_coef * d_entropy_loss;
        }
        let (prediction, passes) = match coefs.clip_range_vf {
            None => (values[i], true),
            Some(range) => {
                let range = range as f32;
                let diff = values[i] - targets.old_values[i];
                (
                    targets.old_values[i] + diff.clamp(-range, range),
                    (-range..=range).contains(&diff),
                )
            }
        };
        let error = targets.returns[i] - prediction;
        value_sum += error * error;
        d_values[i] = if passes {
            vf_coef * -2.0 * error * inv_b
        } else {
            0.0
        };
    }
    let policy_loss = policy_sum * inv_b;
    let value_loss = value_sum * inv_b;
    let entropy_loss = -entropy_sum * inv_b;
    LossTerms {
        policy_loss,
        value_loss,
        entropy_loss,
        loss: policy_loss + ent_coef * entropy_loss + vf_coef * value_loss,
        approx_kl: kl_sum * inv_b,
        clip_fraction: clipped as f32 * inv_b,
    }
}

/// `(a - mean) / (std + 1e-8)` with torch's unbiased `std`, unless disabled or the minibatch
/// has a single element (SB3 skips it then).
fn normalised_advantages(advantages: &[f32], normalize: bool) -> Vec<f32> {
    let n = advantages.len();
    if !normalize || n <= 1 {
        return advantages.to_vec();
    }
    let mean = advantages.iter().map(|&a| f64::from(a)).sum::<f64>() / n as f64;
    let var = advantages
        .iter()
        .map(|&a| (f64::from(a) - mean).powi(2))
        .sum::<f64>()
        / (n - 1) as f64;
    let (mean, std) = (mean as f32, var.sqrt() as f32);
    advantages
        .iter()
        .map(|a| (a - mean) / (std + 1e-8))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coefs(clip_range_vf: Option<f64>, normalize: bool) -> LossCoefficients {
        LossCoefficients {
            clip_range: 0.2,
            clip_range_vf,
            ent_coef: 0.01,
            vf_coef: 0.5,
            normalize_advantage: normalize,
        }
    }

    #[test]
    fn advantages_are_normalised_with_the_unbiased_std() {
        // mean 2, unbiased std 1.
        let n = normalised_advantages(&[1.0, 2.0, 3.0], true);
        for (x, e) in n.iter().zip([-1.0f32, 0.0, 1.0]) {
            assert!((x - e).abs() < 1e-6, "{n:?}");
        }
        assert_eq!(normalised_advantages(&[5.0], true), vec![5.0]);
        assert_eq!(normalised_advantages(&[1.0, 3.0], false), vec![1.0, 3.0]);
    }

    /// Two rows, two actions, uniform policy (logits 0): every term computed by hand.
    #[test]
    fn terms_match_hand_computed_values() {
        let ln = |x: f32| x.ln();
        // Row 0: action 0, old log-prob ln(0.4) -> ratio 0.5/0.4 = 1.25 (clipped at 1.2).
        // Row 1: action 1, old log-prob ln(0.5) -> ratio 1.
        let targets = MinibatchTargets {
            actions: &[0, 1],
            old_log_probs: &[ln(0.4), ln(0.5)],
            old_values: &[0.0, 0.0],
            advantages: &[2.0, -1.0],
            returns: &[1.0, -2.0],
        };
        let logits = [0.0f32; 4];
        let values = [0.5f32, 0.0];
        let mut d_logits = [0.0f32; 4];
        let mut d_values = [0.0f32; 2];
        let terms = ppo_loss(
            &logits,
            &values,
            &targets,
            coefs(None, false),
            &mut d_logits,
            &mut d_values,
        );
        // Policy: -mean(min(2·1.25, 2·1.2), min(-1·1, -1·1)) = -(2.4 - 1)/2 = -0.7.
        assert!((terms.policy_loss + 0.7).abs() < 1e-6);
        // Value: mean((1 - 0.5)², (-2 - 0)²) = (0.25 + 4)/2 = 2.125.
        assert!((terms.value_loss - 2.125).abs() < 1e-6);
        // Entropy of a fair coin: ln 2.
        assert!((terms.entropy_loss + 2f32.ln()).abs() < 1e-6);
        assert!((terms.loss - (-0.7 - 0.01 * 2f32.ln() + 0.5 * 2.125)).abs() < 1e-6);
        assert_eq!(terms.clip_fraction, 0.5);
        // approx_kl: mean((1.25 - 1) - ln 1.25, 0).
        let kl = ((0.25 - 1.25f64.ln()) / 2.0) as f32;
        assert!((terms.approx_kl - kl).abs() < 1e-6);
        // Row 0 is clipped (no policy gradient); entropy gradient is 0 at the uniform policy.
        assert!(d_logits[0].abs() < 1e-7 && d_logits[1].abs() < 1e-7);
        // Row 1 (tie at ratio 1): d/dlogp = -(1/2)·(-1)·1 = 0.5; dlogp/dz = onehot - p.
        assert!((d_logits[2] - 0.5 * (0.0 - 0.5)).abs() < 1e-6);
        assert!((d_logits[3] - 0.5 * (1.0 - 0.5)).abs() < 1e-6);
        // d/dV = 0.5 · (-2)(R - V)/2.
        assert!((d_values[0] - (-0.5 * 0.5)).abs() < 1e-6);
        assert!((d_values[1] - 2.0 * 0.5).abs() < 1e-6);
    }

    #[test]
    fn value_clipping_stops_the_gradient_outside_the_range() {
        let targets = MinibatchTargets {
            actions: &[0, 0],
            old_log_probs: &[-(2f32.ln()), -(2f32.ln())],
            old_values: &[1.0, 1.0],
            advantages: &[0.0, 0.0],
            returns: &[3.0, 3.0],
        };
        let mut d_logits = [0.0f32; 4];
        let mut d_values = [0.0f32; 2];
        // V = 2 (clipped to 1.5) and V = 1.2 (inside 1 ± 0.5).
        let terms = ppo_loss(
            &[0.0; 4],
            &[2.0, 1.2],
            &targets,
            coefs(Some(0.5), true),
            &mut d_logits,
            &mut d_values,
        );
        assert!((terms.value_loss - (1.5f32.powi(2) + 1.8f32.powi(2)) / 2.0).abs() < 1e-5);
        assert_eq!(d_values[0], 0.0);
        assert!((d_values[1] - 0.5 * -2.0 * 1.8 / 2.0).abs() < 1e-6);
    }

    /// The analytic gradient against central differences of the loss (away from kinks).
    #[test]
    fn gradient_matches_finite_differences() {
        let logits: Vec<f32> = (0..12).map(|i| ((i * 7 % 5) as f32 - 2.0) * 0.3).collect();
        let values = [0.3f32, -0.7, 1.1, 0.2];
        let targets = MinibatchTargets {
            actions: &[2, 0, 1, 2],
            old_log_probs: &[-1.3, -0.9, -1.2, -0.8],
            old_values: &[0.5, -0.5, 0.4, 0.0],
            advantages: &[1.5, -0.4, 0.7, -2.0],
            returns: &[1.0, -1.0, 2.0, 0.5],
        };
        let c = coefs(Some(0.6), true);
        let loss_at = |l: &[f32], v: &[f32]| {
            let mut dl = vec![0.0; 12];
            let mut dv = vec![0.0; 4];
            ppo_loss(l, v, &targets, c, &mut dl, &mut dv).loss as f64
        };
        let mut d_logits = vec![0.0; 12];
        let mut d_values = vec![0.0; 4];
        ppo_loss(&logits, &values, &targets, c, &mut d_logits, &mut d_values);
        let eps = 1e-3f32;
        for i in 0..12 {
            let (mut plus, mut minus) = (logits.clone(), logits.clone());
            plus[i] += eps;
            minus[i] -= eps;
            let numeric = (loss_at(&plus, &values) - loss_at(&minus, &values)) / (2.0 * eps as f64);
            assert!(
                (numeric - d_logits[i] as f64).abs() < 2e-3,
                "logit {i}: {} vs {numeric}",
                d_logits[i]
            );
        }
        for i in 0..4 {
            let (mut plus, mut minus) = (values, values);
            plus[i] += eps;
            minus[i] -= eps;
            let numeric = (loss_at(&logits, &plus) - loss_at(&logits, &minus)) / (2.0 * eps as f64);
            assert!(
                (numeric - d_values[i] as f64).abs() < 2e-3,
                "value {i}: {} vs {numeric}",
                d_values[i]
            );
        }
    }
}
