//! PPO hyper-parameters with stable-baselines3's names and the original scheduler's defaults.

use crate::error::{Result, RlError};
use serde::{Deserialize, Serialize};

/// The longest rollout (and PPO batch) accepted, in environment steps.
pub const MAX_ROLLOUT: usize = 1 << 20;

/// A value that may change over training, as a function of SB3's `progress_remaining`
/// (1 at the start of a `learn` call's target, 0 at its end).
///
/// Serialises as a plain number for constants and as
/// `{"start": .., "end": .., "end_fraction": ..}` for linear schedules.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Schedule {
    /// The same value throughout (SB3's `ConstantSchedule`).
    Constant(f64),
    /// SB3's `LinearSchedule`: from `start` at progress 0 to `end` once `end_fraction` of the
    /// training is done, then `end`. rl-zoo's `lin_X` is `{start: X, end: 0, end_fraction: 1}`.
    Linear {
        /// Value at the start.
        start: f64,
        /// Value at the end.
        end: f64,
        /// Fraction of training after which `end` is reached (in `(0, 1]`).
        end_fraction: f64,
    },
}

impl Schedule {
    /// rl-zoo's `lin_X`: `X * progress_remaining`.
    pub fn linear_to_zero(start: f64) -> Self {
        Self::Linear {
            start,
            end: 0.0,
            end_fraction: 1.0,
        }
    }

    /// The value at `progress_remaining`.
    pub fn value(&self, progress_remaining: f64) -> f64 {
        match *self {
            Self::Constant(v) => v,
            Self::Linear {
                start,
                end,
                end_fraction,
            } => {
                let done = 1.0 - progress_remaining;
                if done > end_fraction {
                    end
                } else {
                    start + done * (end - start) / end_fraction
                }
            }
        }
    }

    /// Checks that every value of the schedule satisfies `ok`; `flag` names it in the error.
    fn check(&self, flag: &'static str, ok: impl Fn(f64) -> bool, expected: &str) -> Result<()> {
        let (values, shown) = match *self {
            Self::Constant(v) => (vec![v], v.to_string()),
            Self::Linear {
                start,
                end,
                end_fraction,
            } => {
                if !(end_fraction > 0.0 && end_fraction <= 1.0) {
                    return Err(RlError::flag(
                        flag,
                        format!("end_fraction {end_fraction}"),
                        "a linear schedule's end_fraction must be in (0, 1]",
                    ));
                }
                (vec![start, end], format!("{start}..{end}"))
            }
        };
        if values.iter().all(|v| v.is_finite() && ok(*v)) {
            Ok(())
        } else {
            Err(RlError::flag(flag, shown, expected))
        }
    }
}

/// Hidden layer widths of the actor (`pi`) and critic (`vf`) networks (SB3's `net_arch`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetArch {
    /// Actor hidden widths.
    pub pi: Vec<usize>,
    /// Critic hidden widths.
    pub vf: Vec<usize>,
}

impl Default for NetArch {
    /// `dict(pi=[128, 128], vf=[128, 128])`, the original scheduler's architecture.
    fn default() -> Self {
        Self {
            pi: vec![128, 128],
            vf: vec![128, 128],
        }
    }
}

/// Every PPO hyper-parameter. Field names and meanings are SB3's; defaults are the original
/// scheduler's (SB3's defaults except `ent_coef` 0.01 and 128-128 networks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PpoConfig {
    /// Adam learning rate (default constant 3e-4).
    pub learning_rate: Schedule,
    /// Environment steps per rollout (2048).
    pub n_steps: usize,
    /// Minibatch size (64).
    pub batch_size: usize,
    /// Passes over each rollout (10).
    pub n_epochs: usize,
    /// Discount factor (0.99).
    pub gamma: f64,
    /// GAE lambda (0.95).
    pub gae_lambda: f64,
    /// Policy ratio clip range (constant 0.2).
    pub clip_range: Schedule,
    /// Value clip range around the rollout's values; `None` (default) disables value clipping.
    pub clip_range_vf: Option<Schedule>,
    /// Normalise advantages per minibatch (true).
    pub normalize_advantage: bool,
    /// Entropy bonus coefficient (0.01).
    pub ent_coef: f64,
    /// Value loss coefficient (0.5).
    pub vf_coef: f64,
    /// Global gradient-norm clip (0.5).
    pub max_grad_norm: f64,
    /// Stop an update's epochs early when the approximate KL exceeds 1.5 x this (None).
    pub target_kl: Option<f64>,
    /// Hidden widths of the two networks.
    pub net_arch: NetArch,
}

impl Default for PpoConfig {
    fn default() -> Self {
        Self {
            learning_rate: Schedule::Constant(3e-4),
            n_steps: 2048,
            batch_size: 64,
            n_epochs: 10,
            gamma: 0.99,
            gae_lambda: 0.95,
            clip_range: Schedule::Constant(0.2),
            clip_range_vf: None,
            normalize_advantage: true,
            ent_coef: 0.01,
            vf_coef: 0.5,
            max_grad_norm: 0.5,
            target_kl: None,
            net_arch: NetArch::default(),
        }
    }
}

/// Hyper-parameters to replace in a loaded or imported agent (`None`: keep).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigOverrides {
    /// New learning-rate schedule.
    pub learning_rate: Option<Schedule>,
    /// New clip-range schedule.
    pub clip_range: Option<Schedule>,
    /// New entropy coefficient.
    pub ent_coef: Option<f64>,
    /// New gradient-norm clip.
    pub max_grad_norm: Option<f64>,
    /// New rollout length.
    pub n_steps: Option<usize>,
}

impl ConfigOverrides {
    /// Writes the given values into `config`.
    pub fn apply(&self, config: &mut PpoConfig) {
        if let Some(v) = self.learning_rate {
            config.learning_rate = v;
        }
        if let Some(v) = self.clip_range {
            config.clip_range = v;
        }
        if let Some(v) = self.ent_coef {
            config.ent_coef = v;
        }
        if let Some(v) = self.max_grad_norm {
            config.max_grad_norm = v;
        }
        if let Some(v) = self.n_steps {
            config.n_steps = v;
        }
    }
}

/// Adam's `eps` in SB3's policies.
pub(crate) const ADAM_EPS: f32 = 1e-5;
/// Adam's betas (torch's defaults).
pub(crate) const ADAM_BETAS: (f64, f64) = (0.9, 0.999);

impl PpoConfig {
    /// Checks every value; the error names the field, the value and the accepted range.
    pub fn validate(&self) -> Result<()> {
        let positive = |flag: &'static str, v: usize| {
            if v == 0 {
                Err(RlError::flag(flag, v, "expected a positive integer"))
            } else {
                Ok(())
            }
        };
        positive("n_steps", self.n_steps)?;
        positive("batch_size", self.batch_size)?;
        for (flag, v) in [("n_steps", self.n_steps), ("batch_size", self.batch_size)] {
            if v > MAX_ROLLOUT {
                return Err(RlError::flag(
                    flag,
                    v,
                    format!("expected at most {MAX_ROLLOUT} (the rollout is kept in memory and collected in full before each update)"),
                ));
            }
        }
        positive("n_epochs", self.n_epochs)?;
        let unit = |flag: &'static str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(RlError::flag(flag, v, "expected a number in [0, 1]"))
            }
        };
        unit("gamma", self.gamma)?;
        unit("gae_lambda", self.gae_lambda)?;
        let non_negative = |flag: &'static str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(RlError::flag(flag, v, "expected a finite number >= 0"))
            }
        };
        non_negative("ent_coef", self.ent_coef)?;
        non_negative("vf_coef", self.vf_coef)?;
        if !(self.max_grad_norm.is_finite() && self.max_grad_norm > 0.0) {
            return Err(RlError::flag(
                "max_grad_norm",
                self.max_grad_norm,
                "expected a finite number > 0",
            ));
        }
        if let Some(kl) = self.target_kl {
            if !(kl.is_finite() && kl > 0.0) {
                return Err(RlError::flag("target_kl", kl, "expected a number > 0"));
            }
        }
        self.learning_rate
            .check("learning_rate", |v| v >= 0.0, "expected a rate >= 0")?;
        self.clip_range
            .check("clip_range", |v| v >= 0.0, "expected a clip range >= 0")?;
        if let Some(vf) = &self.clip_range_vf {
            vf.check("clip_range_vf", |v| v >= 0.0, "expected a clip range >= 0")?;
        }
        for (flag, widths) in [
            ("net_arch.pi", &self.net_arch.pi),
            ("net_arch.vf", &self.net_arch.vf),
        ] {
            if widths.contains(&0) {
                return Err(RlError::flag(
                    flag,
                    format!("{widths:?}"),
                    "expected positive layer widths",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_follow_sb3() {
        assert_eq!(Schedule::Constant(0.2).value(0.3), 0.2);
        let lin = Schedule::linear_to_zero(1e-3);
        assert!((lin.value(1.0) - 1e-3).abs() < 1e-15);
        assert!((lin.value(0.25) - 2.5e-4).abs() < 1e-15);
        // SB3 LinearSchedule(0.3, 0.1, 0.5): 0.2 halfway to end_fraction, then 0.1.
        let s = Schedule::Linear {
            start: 0.3,
            end: 0.1,
            end_fraction: 0.5,
        };
        assert!((s.value(0.75) - 0.2).abs() < 1e-12);
        assert_eq!(s.value(0.2), 0.1);
    }

    #[test]
    fn config_serialises_with_plain_numbers_and_accepts_partial_json() {
        let config = PpoConfig::default();
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["learning_rate"], serde_json::json!(3e-4));
        assert_eq!(json["clip_range_vf"], serde_json::Value::Null);
        let back: PpoConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, config);
        let partial: PpoConfig = serde_json::from_str(
            r#"{"n_steps": 32, "learning_rate": {"start": 0.001, "end": 0.0, "end_fraction": 1.0}}"#,
        )
        .unwrap();
        assert_eq!(partial.n_steps, 32);
        assert_eq!(partial.learning_rate, Schedule::linear_to_zero(1e-3));
        assert_eq!(partial.batch_size, 64);
        assert!(serde_json::from_str::<PpoConfig>(r#"{"n_step": 3}"#).is_err());
    }

    #[test]
    fn validation_names_the_bad_field() {
        let mut config = PpoConfig {
            batch_size: 0,
            ..PpoConfig::default()
        };
        let msg = config.validate().unwrap_err().to_string();
        assert!(msg.starts_with("batch_size 0:"), "{msg}");
        config.batch_size = 8;
        config.clip_range = Schedule::Constant(-0.1);
        let msg = config.validate().unwrap_err().to_string();
        assert!(msg.contains("clip_range -0.1"), "{msg}");
        config.clip_range = Schedule::Constant(0.1);
        config.gamma = 1.5;
        assert!(config.validate().unwrap_err().to_string().contains("gamma"));
        config.gamma = 0.9;
        assert!(config.validate().is_ok());
    }
}
