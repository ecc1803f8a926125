//! A tanh multi-layer perceptron over a flat `f32` parameter vector, with its backward pass.

use super::linalg::{matmul, Operand};

/// One fully connected layer inside the flat parameter vector, in torch's layout: the weight
/// `[n_out, n_in]` row-major at `weight`, the bias `[n_out]` at `bias`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Linear {
    pub(crate) weight: usize,
    pub(crate) bias: usize,
    pub(crate) n_in: usize,
    pub(crate) n_out: usize,
}

/// Layers applied in order, with tanh after every layer except the last (an SB3
/// `mlp_extractor` branch followed by its head).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mlp {
    layers: Vec<Linear>,
}

/// A batch's layer outputs, kept for the backward pass, and scratch space. Reused across calls
/// so that the training loop does not allocate.
#[derive(Debug, Default)]
pub(crate) struct Tape {
    batch: usize,
    outputs: Vec<Vec<f32>>,
    delta: Vec<f32>,
    upstream: Vec<f32>,
}

impl Mlp {
    /// An MLP of the given layers (each one's `n_in` is the previous one's `n_out`).
    pub(crate) fn new(layers: Vec<Linear>) -> Self {
        debug_assert!(layers.windows(2).all(|w| w[0].n_out == w[1].n_in));
        Self { layers }
    }

    /// The layers, first to last.
    pub(crate) fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// Applies the network to `batch` row-major inputs; returns the `[batch, n_out]` outputs,
    /// which stay in `tape` for [`Mlp::backward`].
    pub(crate) fn forward<'t>(
        &self,
        params: &[f32],
        input: &[f32],
        batch: usize,
        tape: &'t mut Tape,
    ) -> &'t [f32] {
        tape.batch = batch;
        tape.outputs.resize_with(self.layers.len(), Vec::new);
        let last = self.layers.len() - 1;
        for (l, layer) in self.layers.iter().enumerate() {
            let (before, rest) = tape.outputs.split_at_mut(l);
            let layer_input = if l == 0 { input } else { &before[l - 1] };
            let out = &mut rest[0];
            out.resize(batch * layer.n_out, 0.0);
            let bias = &params[layer.bias..layer.bias + layer.n_out];
            for row in out.chunks_exact_mut(layer.n_out) {
                row.copy_from_slice(bias);
            }
            let weight = &params[layer.weight..layer.weight + layer.n_out * layer.n_in];
            matmul(
                out,
                Operand::new(layer_input, batch, layer.n_in),
                Operand::new(weight, layer.n_out, layer.n_in).t(),
                true,
            );
            if l < last {
                tanh_in_place(out);
            }
        }
        &tape.outputs[last]
    }

    /// Back-propagates `d_output` (the loss gradient w.r.t. the outputs of the last
    /// [`Mlp::forward`] on `input`) and writes the gradients of this network's parameters into
    /// their places in `grads` (other places are left untouched).
    pub(crate) fn backward(
        &self,
        params: &[f32],
        input: &[f32],
        tape: &mut Tape,
        d_output: &[f32],
        grads: &mut [f32],
    ) {
        let Tape {
            batch,
            outputs,
            delta,
            upstream,
        } = tape;
        let batch = *batch;
        delta.clear();
        delta.extend_from_slice(d_output);
        let last = self.layers.len() - 1;
        for (l, layer) in self.layers.iter().enumerate().rev() {
            if l < last {
                // d tanh(z) / dz = 1 - tanh(z)².
                for (d, y) in delta.iter_mut().zip(&outputs[l]) {
                    *d *= 1.0 - y * y;
                }
            }
            let layer_input = if l == 0 { input } else { &outputs[l - 1] };
            let d_weight = &mut grads[layer.weight..layer.weight + layer.n_out * layer.n_in];
            matmul(
                d_weight,
                Operand::new(delta, batch, layer.n_out).t(),
                Operand::new(layer_input, batch, layer.n_in),
                false,
            );
            let d_bias = &mut grads[layer.bias..layer.bias + layer.n_out];
            d_bias.fill(0.0);
            for row in delta.chunks_exact(layer.n_out) {
                for (g, d) in d_bias.iter_mut().zip(row) {
                    *g += d;
                }
            }
            if l > 0 {
                let weight = &params[layer.weight..layer.weight + layer.n_out * layer.n_in];
                upstream.resize(batch * layer.n_in, 0.0);
                matmul(
                    upstream,
                    Operand::new(delta, batch, layer.n_out),
                    Operand::new(weight, layer.n_out, layer.n_in),
                    false,
                );
                std::mem::swap(delta, upstream);
            }
        }
    }
}

/// `tanh` of every element, by the rational approximation of Eigen's `generic_fast_tanh_float`
/// (relative error below 4.5e-7; branch-free, so the loop vectorises).
fn tanh_in_place(values: &mut [f32]) {
    const CLAMP: f32 = 7.905_311;
    const A1: f32 = 4.893_524_6e-3;
    const A3: f32 = 6.372_619_3e-4;
    const A5: f32 = 1.485_722_4e-5;
    const A7: f32 = 5.122_297e-8;
    const A9: f32 = -8.604_672e-11;
    const A11: f32 = 2.000_188e-13;
    const A13: f32 = -2.760_768_5e-16;
    const B0: f32 = 4.893_525e-3;
    const B2: f32 = 2.268_434_7e-3;
    const B4: f32 = 1.185_347e-4;
    const B6: f32 = 1.198_258_4e-6;
    for v in values.iter_mut() {
        let x = v.clamp(-CLAMP, CLAMP);
        let x2 = x * x;
        let mut p = x2 * A13 + A11;
        p = x2 * p + A9;
        p = x2 * p + A7;
        p = x2 * p + A5;
        p = x2 * p + A3;
        p = x2 * p + A1;
        let p = x * p;
        let mut q = x2 * B6 + B4;
        q = x2 * q + B2;
        q = x2 * q + B0;
        *v = p / q;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_tanh_is_within_4_5e_7_of_tanh() {
        let xs: Vec<f32> = (-20_000..=20_000).map(|i| i as f32 * 5e-4).collect();
        let mut ys = xs.clone();
        tanh_in_place(&mut ys);
        for (x, y) in xs.iter().zip(&ys) {
            let exact = f64::from(*x).tanh();
            let err = (f64::from(*y) - exact).abs();
            assert!(
                err <= 4.5e-7 * exact.abs().max(1e-3),
                "tanh({x}) = {y}, exact {exact}"
            );
        }
        let mut big = [30.0f32, -30.0, 0.0];
        tanh_in_place(&mut big);
        assert_eq!(big, [1.0, -1.0, 0.0]);
    }

    /// A 3-2-1 network with hand-picked weights: forward against the formula, backward
    /// against central finite differences in f64 of the same formula.
    #[test]
    fn forward_and_backward_match_the_formula() {
        let layers = vec![
            Linear {
                weight: 0,
                bias: 6,
                n_in: 3,
                n_out: 2,
            },
            Linear {
                weight: 8,
                bias: 10,
                n_in: 2,
                n_out: 1,
            },
        ];
        let mlp = Mlp::new(layers);
        let params = [
            0.5f32, -0.3, 0.8, -0.6, 0.2, 0.4, 0.1, -0.2, 0.7, -1.1, 0.05,
        ];
        let input = [1.0f32, -2.0, 0.5, 0.3, 0.9, -0.4];
        let formula = |p: &[f64], x: &[f64]| -> f64 {
            let h0 = (p[0] * x[0] + p[1] * x[1] + p[2] * x[2] + p[6]).tanh();
            let h1 = (p[3] * x[0] + p[4] * x[1] + p[5] * x[2] + p[7]).tanh();
            p[8] * h0 + p[9] * h1 + p[10]
        };
        let p64: Vec<f64> = params.iter().map(|&v| f64::from(v)).collect();
        let mut tape = Tape::default();
        let out = mlp.forward(&params, &input, 2, &mut tape).to_vec();
        for (row, y) in out.iter().enumerate() {
            let x: Vec<f64> = input[row * 3..row * 3 + 3]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            assert!((f64::from(*y) - formula(&p64, &x)).abs() < 1e-6);
        }
        // Loss = 2·y0 - 3·y1.
        let loss = |p: &[f64]| {
            let x0: Vec<f64> = input[..3].iter().map(|&v| f64::from(v)).collect();
            let x1: Vec<f64> = input[3..].iter().map(|&v| f64::from(v)).collect();
            2.0 * formula(p, &x0) - 3.0 * formula(p, &x1)
        };
        let mut grads = vec![f32::NAN; params.len()];
        mlp.backward(&params, &input, &mut tape, &[2.0, -3.0], &mut grads);
        for i in 0..params.len() {
            let (mut plus, mut minus) = (p64.clone(), p64.clone());
            plus[i] += 1e-6;
            minus[i] -= 1e-6;
            let numeric = (loss(&plus) - loss(&minus)) / 2e-6;
            assert!(
                (f64::from(grads[i]) - numeric).abs() < 1e-5,
                "param {i}: {} vs {numeric}",
                grads[i]
            );
        }
    }
}
