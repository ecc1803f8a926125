//! torch's `Adam` (no weight decay) and `clip_grad_norm_` on flat `f32` vectors.

/// Adam's state: first and second moments and the step count.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Adam {
    pub(crate) exp_avg: Vec<f32>,
    pub(crate) exp_avg_sq: Vec<f32>,
    pub(crate) step: u64,
    betas: (f64, f64),
    eps: f32,
}

impl Adam {
    /// Fresh state for `n` parameters.
    pub(crate) fn new(n: usize, betas: (f64, f64), eps: f32) -> Self {
        Self {
            exp_avg: vec![0.0; n],
            exp_avg_sq: vec![0.0; n],
            step: 0,
            betas,
            eps,
        }
    }

    /// One step of torch's single-tensor Adam:
    /// `m ← lerp(m, g, 1-β1)`, `v ← β2·v + (1-β2)·g²`,
    /// `p ← p - lr/(1-β1ᵗ) · m / (√v / √(1-β2ᵗ) + eps)`.
    pub(crate) fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) {
        self.step += 1;
        let (beta1, beta2) = self.betas;
        let t = self.step as i32;
        let bias_correction1 = 1.0 - beta1.powi(t);
        let bias_correction2_sqrt = (1.0 - beta2.powi(t)).sqrt() as f32;
        let neg_step_size = (-lr / bias_correction1) as f32;
        let weight = (1.0 - beta1) as f32;
        let (beta2_32, one_minus_beta2) = (beta2 as f32, (1.0 - beta2) as f32);
        let eps = self.eps;
        for (((p, g), m), v) in params
            .iter_mut()
            .zip(grads)
            .zip(self.exp_avg.iter_mut())
            .zip(self.exp_avg_sq.iter_mut())
        {
            *m += weight * (g - *m);
            *v = *v * beta2_32 + one_minus_beta2 * g * g;
            let denom = v.sqrt() / bias_correction2_sqrt + eps;
            *p += neg_step_size * (*m / denom);
        }
    }
}

/// torch's `clip_grad_norm_`: scales the gradients by `max_norm / (norm + 1e-6)` when that is
/// below 1; returns the norm before clipping.
pub(crate) fn clip_grad_norm(grads: &mut [f32], max_norm: f64) -> f32 {
    // Eight partial sums in f32 (as torch's f32 norm), so that the loop vectorises.
    let mut lanes = [0.0f32; 8];
    let chunks = grads.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().map(|g| g * g).sum();
    for chunk in chunks {
        for (lane, g) in lanes.iter_mut().zip(chunk) {
            *lane += g * g;
        }
    }
    let norm = (lanes.iter().sum::<f32>() + tail).sqrt();
    let coef = (max_norm as f32 / (norm + 1e-6)).min(1.0);
    if coef < 1.0 {
        for g in grads.iter_mut() {
            *g *= coef;
        }
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two steps on two scalars, computed by hand from torch's formulas.
    #[test]
    fn steps_match_hand_computed_torch_adam() {
        let mut adam = Adam::new(2, (0.9, 0.999), 1e-5);
        let mut p = [1.0f32, -2.0];
        adam.step(&mut p, &[0.5, -0.1], 0.01);
        // Step 1: m = 0.1 g, v = 0.001 g², m̂ = g, v̂ = g²: p -= lr · g / (|g| + eps).
        let expected1 = [
            1.0 - 0.01 * 0.5 / (0.5 + 1e-5),
            -2.0 + 0.01 * 0.1 / (0.1 + 1e-5),
        ];
        for (x, e) in p.iter().zip(expected1) {
            assert!((f64::from(*x) - e).abs() < 1e-6, "{p:?}");
        }
        adam.step(&mut p, &[0.2, 0.3], 0.01);
        // Step 2: m = 0.9·0.1·g1 + 0.1·g2, v = 0.999·0.001·g1² + 0.001·g2².
        let step2 = |g1: f64, g2: f64| {
            let m = 0.09 * g1 + 0.1 * g2;
            let v = 0.999 * 0.001 * g1 * g1 + 0.001 * g2 * g2;
            let bc1 = 1.0 - 0.9f64.powi(2);
            let bc2 = 1.0 - 0.999f64.powi(2);
            0.01 / bc1 * m / (v.sqrt() / bc2.sqrt() + 1e-5)
        };
        let expected2 = [
            expected1[0] - step2(0.5, 0.2),
            expected1[1] - step2(-0.1, 0.3),
        ];
        for (x, e) in p.iter().zip(expected2) {
            assert!((f64::from(*x) - e).abs() < 1e-6, "{p:?} vs {expected2:?}");
        }
        assert_eq!(adam.step, 2);
    }

    #[test]
    fn clipping_scales_only_large_gradients() {
        let mut g = [3.0f32, 4.0];
        let norm = clip_grad_norm(&mut g, 0.5);
        assert_eq!(norm, 5.0);
        let scale = 0.5 / (5.0 + 1e-6);
        assert!(
            (g[0] - 3.0 * scale as f32).abs() < 1e-7 && (g[1] - 4.0 * scale as f32).abs() < 1e-7
        );
        let mut small = [0.1f32, 0.2];
        clip_grad_norm(&mut small, 0.5);
        assert_eq!(small, [0.1, 0.2]);
    }
}
