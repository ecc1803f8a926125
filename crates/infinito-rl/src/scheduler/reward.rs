//! The metrics of an environment step and the reward computed from two of them.

use serde::Serialize;

use super::config::{RewardConfig, RewardKind};

/// What the model reported after an environment step (from its last inner step).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StepMetrics {
    /// Mean learned PHI of the batch.
    pub phi: f64,
    /// "Consciousness" `C = min(phi / c_scale, 1)`.
    pub c: f64,
    /// Language-model loss of the batch.
    pub loss_text: f64,
    /// The PHI term times the action's `w_phi`.
    pub loss_phi: f64,
    /// `exp(loss_text)` (capped at `exp(20)`).
    pub ppl: f64,
    /// Fraction of memory slots in use.
    pub memory_util: f64,
    /// Held-out LM loss, when the reward needs it.
    pub val_loss: Option<f64>,
}

impl StepMetrics {
    /// Metrics from the model's raw numbers.
    pub fn new(
        phi: f64,
        loss_text: f64,
        phi_term: f64,
        w_phi: f64,
        memory_util: f64,
        c_scale: f64,
    ) -> Self {
        Self {
            phi,
            c: (phi / c_scale).min(1.0),
            loss_text,
            loss_phi: w_phi * phi_term,
            ppl: loss_text.min(20.0).exp(),
            memory_util,
            val_loss: None,
        }
    }
}

/// The reward of one step and each of its terms (all logged).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RewardTerms {
    /// `alpha * (C - C_prev)`.
    pub delta_c: f64,
    /// `beta * (phi - phi_prev)`.
    pub delta_phi: f64,
    /// `gamma * (ppl_prev - ppl) / max(ppl_prev, 1)`.
    pub delta_ppl: f64,
    /// `-delta * memory_util`.
    pub cost: f64,
    /// Penalty for PHI jumps beyond the stability threshold.
    pub stability: f64,
    /// PHI band term.
    pub phi_band: f64,
    /// Perplexity band term.
    pub ppl_band: f64,
    /// C band term.
    pub c_band: f64,
    /// `validation_scale * (val_loss_prev - val_loss)` (validation reward).
    pub validation: f64,
    /// The reward: the sum of the terms.
    pub total: f64,
}

impl RewardTerms {
    /// The terms by name, for logs.
    pub fn named(&self) -> [(&'static str, f64); 10] {
        [
            ("delta_c", self.delta_c),
            ("delta_phi", self.delta_phi),
            ("delta_ppl", self.delta_ppl),
            ("cost", self.cost),
            ("stability", self.stability),
            ("phi_band", self.phi_band),
            ("ppl_band", self.ppl_band),
            ("c_band", self.c_band),
            ("validation", self.validation),
            ("total", self.total),
        ]
    }
}

/// The reward of moving from `prev` to `cur`.
pub fn reward(cfg: &RewardConfig, prev: &StepMetrics, cur: &StepMetrics) -> RewardTerms {
    match cfg.kind {
        RewardKind::Original => original_reward(cfg, prev, cur),
        RewardKind::Validation => {
            let validation = match (prev.val_loss, cur.val_loss) {
                (Some(p), Some(c)) => cfg.validation_scale * (p - c),
                _ => 0.0,
            };
            RewardTerms {
                validation,
                total: validation,
                ..RewardTerms::default()
            }
        }
    }
}

/// The original's v2 reward (`_compute_reward`) with its constants taken from `cfg`.
pub fn original_reward(cfg: &RewardConfig, prev: &StepMetrics, cur: &StepMetrics) -> RewardTerms {
    let d_phi = cur.phi - prev.phi;
    let delta_ppl = if prev.ppl > 0.0 {
        (prev.ppl - cur.ppl) / prev.ppl.max(1.0)
    } else {
        0.0
    };
    let stability = if d_phi.abs() > cfg.stability_threshold {
        -cfg.stability_slope * (d_phi.abs() - cfg.stability_threshold)
    } else {
        0.0
    };
    let [phi_lo, phi_hi] = cfg.phi_band;
    let phi_band = if cur.phi < phi_lo {
        -cfg.phi_low_slope * (phi_lo - cur.phi)
    } else if cur.phi > phi_hi {
        -cfg.phi_high_slope * (cur.phi - phi_hi)
    } else {
        cfg.phi_band_bonus
    };
    let [ppl_lo, ppl_hi] = cfg.ppl_band;
    let ppl_band = if cur.ppl < ppl_lo {
        -cfg.ppl_low_slope * (ppl_lo - cur.ppl) / ppl_lo
    } else if cur.ppl > ppl_hi {
        -cfg.ppl_high_slope * (cur.ppl - ppl_hi) / cfg.ppl_high_scale
    } else {
        0.0
    };
    let [c_lo, c_hi] = cfg.c_band;
    let c_band = if cur.c < c_lo {
        -cfg.c_slope * (c_lo - cur.c)
    } else if cur.c > c_hi {
        -cfg.c_slope * (cur.c - c_hi)
    } else {
        cfg.c_band_bonus
    };
    let mut terms = RewardTerms {
        delta_c: cfg.alpha * (cur.c - prev.c),
        delta_phi: cfg.beta * d_phi,
        delta_ppl: cfg.gamma * delta_ppl,
        cost: -cfg.delta * cur.memory_util,
        stability,
        phi_band,
        ppl_band,
        c_band,
        validation: 0.0,
        total: 0.0,
    };
    terms.total = terms.delta_c
        + terms.delta_phi
        + terms.delta_ppl
        + terms.cost
        + terms.stability
        + terms.phi_band
        + terms.ppl_band
        + terms.c_band;
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(c: f64, phi: f64, ppl: f64, memory_util: f64) -> StepMetrics {
        StepMetrics {
            phi,
            c,
            loss_text: ppl.ln(),
            loss_phi: 0.0,
            ppl,
            memory_util,
            val_loss: None,
        }
    }

    /// Scenario 1 of the original's reward test: C 0.48 -> 0.50, PHI 4.3 -> 4.5,
    /// PPL 85 -> 80, memory 0.3: 0.02 + 0.1 + 0.1 * 5/85 - 0.06 + 0.1 + 0.05.
    #[test]
    fn original_scenario_one() {
        let cfg = RewardConfig::default();
        let t = original_reward(
            &cfg,
            &metrics(0.48, 4.3, 85.0, 0.0),
            &metrics(0.50, 4.5, 80.0, 0.3),
        );
        let expected = 0.02 + 0.1 + 0.1 * 5.0 / 85.0 - 0.06 + 0.1 + 0.05;
        assert!((t.total - expected).abs() < 1e-12, "{t:?}");
        assert!((t.total - 0.2159).abs() < 1e-4);
        assert_eq!(t.stability, 0.0);
        assert_eq!(t.ppl_band, 0.0);
    }

    /// Out-of-band values: PHI 8 after 2 (jump 6), PPL 5, C 0.8.
    #[test]
    fn penalties_outside_the_bands() {
        let cfg = RewardConfig::default();
        let t = original_reward(
            &cfg,
            &metrics(0.2, 2.0, 50.0, 0.0),
            &metrics(0.8, 8.0, 5.0, 0.0),
        );
        assert!((t.stability - (-0.8 * 5.0)).abs() < 1e-12);
        assert!((t.phi_band - (-0.6 * 2.0)).abs() < 1e-12);
        assert!((t.ppl_band - (-2.0 * 5.0 / 10.0)).abs() < 1e-12);
        assert!((t.c_band - (-0.2 * 0.1)).abs() < 1e-12);
        let low = original_reward(
            &cfg,
            &metrics(0.2, 2.0, 50.0, 0.0),
            &metrics(0.2, 2.5, 400.0, 0.0),
        );
        assert!((low.phi_band - (-0.3 * 0.5)).abs() < 1e-12);
        assert!((low.ppl_band - (-0.3 * 2.0)).abs() < 1e-12);
        assert!((low.c_band - (-0.2 * 0.1)).abs() < 1e-12);
    }

    /// Every constant comes from the config: doubling the band bonus doubles that term.
    #[test]
    fn constants_come_from_the_config() {
        let cfg = RewardConfig {
            phi_band_bonus: 0.2,
            c_band_bonus: 0.0,
            gamma: 0.0,
            ..RewardConfig::default()
        };
        let m = metrics(0.5, 5.0, 50.0, 0.0);
        let t = original_reward(&cfg, &m, &m);
        assert!((t.total - 0.2).abs() < 1e-12, "{t:?}");
    }

    #[test]
    fn validation_reward_pays_the_loss_decrease() {
        let cfg = RewardConfig {
            kind: RewardKind::Validation,
            ..RewardConfig::default()
        };
        let mut prev = metrics(0.5, 5.0, 50.0, 0.0);
        let mut cur = prev;
        prev.val_loss = Some(3.0);
        cur.val_loss = Some(2.9);
        let t = reward(&cfg, &prev, &cur);
        assert!((t.total - 1.0).abs() < 1e-9);
        assert_eq!(t.phi_band, 0.0);
    }
}
