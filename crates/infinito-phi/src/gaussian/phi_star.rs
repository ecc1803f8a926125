//! Integrated information from mismatched decoding, Phi* (Oizumi, Amari, Yanagawa, Fujii &
//! Tsuchiya 2016), for Gaussian processes.
//!
//! With `X = X_t-tau` and `Y = X_t`, the partitioned model predicts each part from its own past,
//! `q(y|x) = prod_k p(y_k | x_k) = N(A_D x, S_D)` with block-diagonal `A_D` and `S_D`. The
//! mismatched-decoding information is `I* = max_beta I~(beta)` with
//! `I~(beta) = E[beta ln q(y|x) - ln E_x'[q(y|x')^beta]]`, which for Gaussians is
//!
//! `I~(beta) = 1/2 sum_i ln(1 + beta l_i) + beta/2 sum_i w_i / (1 + beta l_i) - beta/2 r`
//!
//! where `l_i` are the eigenvalues of `K = L^-1 A_D Cov(X) A_D^T L^-T` (`S_D = L L^T`), `w_i`
//! the diagonal of `V^T (L^-1 Cov(Y) L^-T) V` in the eigenbasis `V` of `K`, and
//! `r = tr(S_D^-1 E[(y - A_D x)(y - A_D x)^T])`. `I~` is concave in `beta` (its second
//! derivative is a sum of non-positive terms), so its maximum is the root of the derivative,
//! found by a safeguarded Newton iteration inside a bracket. `Phi* = I(X_t; X_t-tau) - I*`.

use super::covariance::{singular, LaggedCovariance};
use super::linalg::{symmetric_eigen, Cholesky, Matrix};
use super::partition::Partition;
use crate::error::{PhiError, Result};

/// Newton/bisection steps before the bracket is accepted as the answer.
const MAX_ITERATIONS: usize = 200;
/// Doublings of the upper end of the bracket (up to `2^60`).
const MAX_DOUBLINGS: usize = 60;

/// Phi* across one partition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhiStar {
    /// `I(X_t; X_t-tau) - I*`, in nats.
    pub value: f64,
    /// The mutual information `I(X_t; X_t-tau)`.
    pub mutual_information: f64,
    /// The mismatched-decoding information `I*`.
    pub mismatched_information: f64,
    /// The maximising `beta` (0 when `I*` is 0).
    pub beta: f64,
}

/// The concave objective `I~(beta)` in the eigenbasis of `K`.
struct Objective {
    eigenvalues: Vec<f64>,
    weights: Vec<f64>,
    residual: f64,
}

impl Objective {
    fn value(&self, beta: f64) -> f64 {
        let terms: f64 = self
            .eigenvalues
            .iter()
            .zip(&self.weights)
            .map(|(&l, &w)| 0.5 * (beta * l).ln_1p() + 0.5 * beta * w / (1.0 + beta * l))
            .sum();
        terms - 0.5 * beta * self.residual
    }

    /// First and second derivatives.
    fn derivatives(&self, beta: f64) -> (f64, f64) {
        let (mut d1, mut d2) = (-0.5 * self.residual, 0.0);
        for (&l, &w) in self.eigenvalues.iter().zip(&self.weights) {
            let g = 1.0 / (1.0 + beta * l);
            d1 += 0.5 * l * g + 0.5 * w * g * g;
            d2 -= 0.5 * l * l * g * g + w * l * g * g * g;
        }
        (d1, d2)
    }

    /// The maximiser over `beta >= 0`.
    fn argmax(&self) -> f64 {
        let scale = self.residual.abs().max(f64::MIN_POSITIVE);
        let flat = |d: f64| d <= 1e-13 * scale;
        if flat(self.derivatives(0.0).0) {
            return 0.0;
        }
        let (mut lo, mut hi) = (0.0, 1.0);
        let mut doublings = 0;
        while self.derivatives(hi).0 > 0.0 {
            if doublings == MAX_DOUBLINGS {
                return hi;
            }
            lo = hi;
            hi *= 2.0;
            doublings += 1;
        }
        let mut beta = 0.5 * (lo + hi);
        for _ in 0..MAX_ITERATIONS {
            let (d1, d2) = self.derivatives(beta);
            if d1 > 0.0 {
                lo = beta;
            } else {
                hi = beta;
            }
            if d1.abs() <= 1e-15 * scale || hi - lo <= 1e-15 * hi {
                break;
            }
            let newton = beta - d1 / d2;
            beta = if d2 < 0.0 && newton > lo && newton < hi {
                newton
            } else {
                0.5 * (lo + hi)
            };
        }
        beta
    }
}

/// Phi* of `covariance` across `partition`.
pub fn phi_star(covariance: &LaggedCovariance, partition: &Partition) -> Result<PhiStar> {
    let n = covariance.channels();
    if partition.channels() != n {
        return Err(PhiError::Config(format!(
            "partition of {} channels for a covariance of {n}",
            partition.channels()
        )));
    }
    let (present, past, cross) = (covariance.present(), covariance.past(), covariance.cross());
    // The partitioned regression of each part's present on its own past.
    let mut a_d = Matrix::zeros(n, n);
    let mut s_d = Matrix::zeros(n, n);
    for part in partition.parts() {
        let past_k =
            Cholesky::new(&past.select(part, part)).map_err(|e| singular(n, n + part[e.index]))?;
        let cross_k = cross.select(part, part);
        // A_k = C_k Sigma_k^-1, so A_k^T = Sigma_k^-1 C_k^T.
        let a_k = past_k.solve(&cross_k.transpose()).transpose();
        let explained = a_k.matmul(&cross_k.transpose());
        for (i, &r) in part.iter().enumerate() {
            for (j, &c) in part.iter().enumerate() {
                a_d[(r, c)] = a_k[(i, j)];
                s_d[(r, c)] = present[(r, c)] - 0.5 * (explained[(i, j)] + explained[(j, i)]);
            }
        }
    }
    let s_d = Cholesky::new(&s_d).map_err(|e| singular(n, e.index))?;
    let a_past = a_d.matmul(&past);
    let driven = a_past.matmul(&a_d.transpose());
    let a_cross_t = a_d.matmul(&cross.transpose());
    // E[(y - A x)(y - A x)^T] = Cov(Y) - A Cov(X,Y) - Cov(Y,X) A^T + A Cov(X) A^T.
    let residual = present
        .sub(&a_cross_t)
        .sub(&a_cross_t.transpose())
        .add(&driven);
    let k = s_d.whiten(&driven);
    let (eigenvalues, v) = symmetric_eigen(&k);
    let w = v.transpose().matmul(&s_d.whiten(&present)).matmul(&v);
    let objective = Objective {
        eigenvalues: eigenvalues.into_iter().map(|l| l.max(0.0)).collect(),
        weights: (0..n).map(|i| w[(i, i)]).collect(),
        residual: s_d.whiten(&residual).trace(),
    };
    let beta = objective.argmax();
    let mismatched = objective.value(beta);
    let mutual_information = covariance.mutual_information()?;
    Ok(PhiStar {
        value: mutual_information - mismatched,
        mutual_information,
        mismatched_information: mismatched,
        beta,
    })
}
