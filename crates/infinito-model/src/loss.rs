//! The hybrid's training objective: `w_text · LM + w_phi · phi_loss` with one coefficient per term.

use candle_core::{Tensor, D};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::hybrid::HybridOutput;

/// Shape of the PHI term, on `gap = target − mean φ` (or, for `band`, on the distance of
/// mean φ from the band).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhiLoss {
    /// Zero inside the band `[lo, hi]`, the squared distance to the band outside it: PHI is
    /// held in the band and otherwise left to the language-model loss.
    Band,
    /// `gap` (the original; unbounded, drives PHI to saturation when it has a gradient).
    Linear,
    /// `gap²`: pulls PHI towards the target from both sides.
    Squared,
    /// `max(gap, 0)`: pushes PHI up to the target, not beyond.
    Hinge,
}

/// Where the PHI term's gradient goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhiGrad {
    /// Into the PHI nets and, through the enhanced hidden state, into the language-model path.
    All,
    /// Into the language-model path only; the PHI nets are not updated by it.
    Model,
    /// Nowhere (the original's de-facto behaviour): the term is logged, not optimised.
    None,
}

impl std::fmt::Display for PhiLoss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Band => "band",
            Self::Linear => "linear",
            Self::Squared => "squared",
            Self::Hinge => "hinge",
        })
    }
}

impl std::fmt::Display for PhiGrad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::All => "all",
            Self::Model => "model",
            Self::None => "none",
        })
    }
}

impl std::str::FromStr for PhiLoss {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "linear" => Ok(Self::Linear),
            "squared" => Ok(Self::Squared),
            "hinge" => Ok(Self::Hinge),
            "band" => Ok(Self::Band),
            _ => Err(format!("{s:?}: expected band, linear, squared or hinge")),
        }
    }
}

impl std::str::FromStr for PhiGrad {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "all" => Ok(Self::All),
            "model" => Ok(Self::Model),
            "none" => Ok(Self::None),
            _ => Err(format!("{s:?}: expected all, model or none")),
        }
    }
}

/// The two loss coefficients (the scheduler sets them per step).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossWeights {
    pub text: f64,
    pub phi: f64,
}

/// How the PHI term is built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhiObjective {
    pub loss: PhiLoss,
    pub grad: PhiGrad,
    /// The aim of `linear`, `squared` and `hinge`.
    pub target: f64,
    /// The band `[lo, hi]` of `band`.
    pub band: [f64; 2],
}

/// The total loss (a graph in training) and its parts as numbers.
pub struct Losses {
    pub total: Tensor,
    pub lm: f64,
    pub phi_loss: f64,
    pub phi_mean: f64,
}

/// `w_text · CE(logits, labels) + w_phi · phi_loss(target − mean φ)` (for `band`:
/// `relu(lo − mean φ)² + relu(mean φ − hi)²`); labels `(B, T)` are already shifted. The PHI term keeps its graph unless `grad` is [`PhiGrad::None`].
pub fn hybrid_loss(
    out: &HybridOutput,
    labels: &Tensor,
    weights: LossWeights,
    objective: PhiObjective,
) -> Result<Losses> {
    let (b, t, _) = out.hidden.dims3()?;
    if labels.dims() != [b, t] {
        return Err(ModelError::Input(format!(
            "labels have shape {:?}, expected [{b}, {t}]",
            labels.dims()
        )));
    }
    let lm = out.lm_loss(labels)?;
    let mut phi_mean = out.phi.phi_estimate.mean(D::Minus1)?;
    if objective.grad == PhiGrad::None {
        phi_mean = phi_mean.detach();
    }
    let gap = (phi_mean.neg()? + objective.target)?;
    let phi_loss = match objective.loss {
        PhiLoss::Linear => gap,
        PhiLoss::Squared => gap.sqr()?,
        PhiLoss::Hinge => gap.relu()?,
        PhiLoss::Band => {
            let [lo, hi] = objective.band;
            let below = (phi_mean.neg()? + lo)?.relu()?;
            let above = (&phi_mean - hi)?.relu()?;
            (below.sqr()? + above.sqr()?)?
        }
    };
    let total = ((&lm * weights.text)? + (&phi_loss * weights.phi)?)?;
    Ok(Losses {
        lm: lm.to_scalar::<f32>()? as f64,
        phi_loss: phi_loss.to_scalar::<f32>()? as f64,
        phi_mean: phi_mean.to_scalar::<f32>()? as f64,
        total,
    })
}
