//! The older, parameter-free statistical PHI measures (`ImprovedIITMetrics` and the attention
//! coherence of `InformationIntegrationMetrics`), as functions of hidden states (B, T, D) and
//! attention maps (B, H, T, T). Every function returns one value per sample, (B,) f32.

use candle_core::{DType, Result, Tensor, D};

/// Fixed mixing weights of temporal, integration, complexity and attention diversity.
pub const WEIGHTS: [f64; 4] = [0.30, 0.30, 0.20, 0.20];
/// Entropy epsilon of the attention-diversity measure.
const DIVERSITY_EPS: f64 = 1e-10;
/// Entropy epsilon of the entropy coherence.
const COHERENCE_EPS: f64 = 1e-6;
/// Cosine-similarity epsilon (PyTorch's default).
const COS_EPS: f64 = 1e-8;

/// All statistical measures of one batch.
#[derive(Debug, Clone)]
pub struct StatisticalPhi {
    /// `clamp(3 * ppl_factor * (0.3 t + 0.3 i + 0.2 c + 0.2 a), 0, 10)`.
    pub phi: Tensor,
    /// See [`temporal_consistency`].
    pub temporal_consistency: Tensor,
    /// See [`integration`].
    pub integration: Tensor,
    /// See [`complexity`].
    pub complexity: Tensor,
    /// See [`attention_diversity`]; 0.5 for every sample when no attention is given.
    pub attention_diversity: Tensor,
    /// See [`head_coherence`]; only with attention.
    pub head_coherence: Option<Tensor>,
    /// See [`entropy_coherence`]; only with attention.
    pub entropy_coherence: Option<Tensor>,
}

impl StatisticalPhi {
    /// The measures present, with their names.
    pub fn named(&self) -> Vec<(&'static str, &Tensor)> {
        let mut out = vec![
            ("phi", &self.phi),
            ("temporal_consistency", &self.temporal_consistency),
            ("integration", &self.integration),
            ("complexity", &self.complexity),
            ("attention_diversity", &self.attention_diversity),
        ];
        out.extend(self.head_coherence.as_ref().map(|t| ("head_coherence", t)));
        out.extend(
            self.entropy_coherence
                .as_ref()
                .map(|t| ("entropy_coherence", t)),
        );
        out
    }
}

/// Computes every measure. `perplexity`, when given, scales PHI by
/// `ppl_factor = min(5, max(1, 300 / perplexity))` (1 otherwise).
pub fn measure(
    hidden: &Tensor,
    attention: Option<&Tensor>,
    perplexity: Option<f64>,
) -> Result<StatisticalPhi> {
    let b = hidden.dim(0)?;
    let t = temporal_consistency(hidden)?;
    let i = integration(hidden)?;
    let c = complexity(hidden)?;
    let a = match attention {
        Some(attn) => attention_diversity(attn)?,
        None => Tensor::full(0.5f32, b, hidden.device())?,
    };
    let ppl_factor = perplexity.map_or(1.0, |p| (300.0 / p).clamp(1.0, 5.0));
    let mixed =
        ((((&t * WEIGHTS[0])? + (&i * WEIGHTS[1])?)? + (&c * WEIGHTS[2])?)? + (&a * WEIGHTS[3])?)?;
    Ok(StatisticalPhi {
        phi: (mixed * (3.0 * ppl_factor))?.clamp(0f32, 10f32)?,
        temporal_consistency: t,
        integration: i,
        complexity: c,
        attention_diversity: a,
        head_coherence: attention.map(head_coherence).transpose()?,
        entropy_coherence: attention.map(entropy_coherence).transpose()?,
    })
}

/// Cosine similarity over the last dimension: `x.y / sqrt(max(|x|^2 |y|^2, eps^2))`.
fn cosine(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    let dot = (x * y)?.sum(D::Minus1)?;
    let norms = (x.sqr()?.sum(D::Minus1)? * y.sqr()?.sum(D::Minus1)?)?;
    dot / norms.maximum(COS_EPS * COS_EPS)?.sqrt()?
}

/// `(mean_t cos(x_t, x_{t+1}) + 1) / 2`; 1 when T < 2.
pub fn temporal_consistency(hidden: &Tensor) -> Result<Tensor> {
    let (b, t, _) = hidden.dims3()?;
    if t < 2 {
        return Tensor::ones(b, DType::F32, hidden.device());
    }
    let cos = cosine(&hidden.narrow(1, 0, t - 1)?, &hidden.narrow(1, 1, t - 1)?)?;
    (cos.mean(1)? + 1.0)? / 2.0
}

/// The four quarters of `T / 4` tokens (rounded down) are averaged and L2-normalised; the measure
/// is the mean absolute cosine of the six pairs. 1 when T < 4.
pub fn integration(hidden: &Tensor) -> Result<Tensor> {
    let (b, t, _) = hidden.dims3()?;
    if t < 4 {
        return Tensor::ones(b, DType::F32, hidden.device());
    }
    let s = t / 4;
    let quarters: Vec<_> = (0..4)
        .map(|q| {
            let m = hidden.narrow(1, q * s, s)?.mean(1)?;
            let norm = m.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.maximum(1e-12)?;
            m.broadcast_div(&norm)
        })
        .collect::<Result<_>>()?;
    let mut pairs = Vec::with_capacity(6);
    for i in 0..4 {
        for j in i + 1..4 {
            pairs.push((&quarters[i] * &quarters[j])?.sum(D::Minus1)?.abs()?);
        }
    }
    Tensor::stack(&pairs, 1)?.mean(1)
}

/// `sigmoid(10 * var(x))`, the unbiased variance over all T*D values of a sample.
pub fn complexity(hidden: &Tensor) -> Result<Tensor> {
    let (b, t, d) = hidden.dims3()?;
    let flat = hidden.reshape((b, t * d))?;
    let n = (t * d) as f64;
    let centred = flat.broadcast_sub(&flat.mean_keepdim(1)?)?;
    let var = (centred.sqr()?.sum(1)? / (n - 1.0).max(1.0))?;
    candle_nn::ops::sigmoid(&(var * 10.0)?)
}

/// Entropy of the key distribution (attention averaged over heads and query rows), divided by
/// `ln T`; 0 when T < 2.
pub fn attention_diversity(attention: &Tensor) -> Result<Tensor> {
    let (b, _, t, _) = attention.dims4()?;
    if t < 2 {
        return Tensor::zeros(b, DType::F32, attention.device());
    }
    let p = attention.mean(1)?.mean(1)?;
    let entropy = (&p * (&p + DIVERSITY_EPS)?.log()?)?.sum(1)?;
    entropy * (-1.0 / (t as f64).ln())
}

/// `1 / (1 + var_h)`, var_h the unbiased variance over heads of each head's mean attention
/// (1 when H = 1).
pub fn head_coherence(attention: &Tensor) -> Result<Tensor> {
    let (b, h, t, _) = attention.dims4()?;
    let per_head = attention.reshape((b, h, t * t))?.mean(2)?;
    let centred = per_head.broadcast_sub(&per_head.mean_keepdim(1)?)?;
    let var = (centred.sqr()?.sum(1)? / (h as f64 - 1.0).max(1.0))?;
    (var + 1.0)?.recip()
}

/// `1 - H / ln T`, H the mean over query rows of the entropy of the head-averaged attention row
/// (`-sum a ln(a + 1e-6)`); 1 when T < 2.
pub fn entropy_coherence(attention: &Tensor) -> Result<Tensor> {
    let (b, _, t, _) = attention.dims4()?;
    if t < 2 {
        return Tensor::ones(b, DType::F32, attention.device());
    }
    let avg = attention.mean(1)?;
    let row_entropy = (&avg * (&avg + COHERENCE_EPS)?.log()?)?
        .sum(D::Minus1)?
        .neg()?;
    (row_entropy.mean(1)? * (-1.0 / (t as f64).ln()))? + 1.0
}
