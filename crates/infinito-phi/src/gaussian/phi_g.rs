//! Geometric integrated information Phi_G (Oizumi, Tsuchiya & Amari 2016) for Gaussian
//! processes.
//!
//! The full model regresses the present on the past, `X_t = A X_t-tau + E` with
//! `A = Cov(X_t, X_t-tau) Cov(X_t-tau)^-1` and residual covariance `S_E`. The disconnected models
//! cut every influence from one part's past to another part's present (`A'_ij = 0` across
//! parts) but keep any noise covariance; the closest one in KL divergence has
//! `S_E' = S_E + (A - A') Cov(X_t-tau) (A - A')^T`, so
//!
//! `Phi_G = 1/2 min_A' ln det(S_E + (A - A') Cov(X_t-tau) (A - A')^T) - 1/2 ln det S_E`.
//!
//! The minimisation is a majorise-minimise iteration: `ln det` is concave, so its tangent at the
//! current `S_E'` bounds it from above, and minimising the bound over the free (within-part)
//! entries of `A'` is a weighted least-squares problem, one Cholesky solve. The objective
//! decreases at every step.

use super::covariance::{singular, LaggedCovariance};
use super::linalg::{Cholesky, Matrix};
use super::partition::Partition;
use crate::error::{PhiError, Result};

/// Iterations before the current value is returned.
const MAX_ITERATIONS: usize = 10_000;
/// Stop when an iteration lowers `ln det` by less than this.
const TOLERANCE: f64 = 1e-13;

/// Phi_G across one partition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhiG {
    /// The value, in nats.
    pub value: f64,
    /// Iterations of the majorise-minimise loop.
    pub iterations: usize,
    /// Whether the loop stopped on the tolerance rather than the iteration cap.
    pub converged: bool,
}

/// Phi_G of `covariance` across `partition`.
pub fn phi_g(covariance: &LaggedCovariance, partition: &Partition) -> Result<PhiG> {
    let n = covariance.channels();
    if partition.channels() != n {
        return Err(PhiError::Config(format!(
            "partition of {} channels for a covariance of {n}",
            partition.channels()
        )));
    }
    let (present, past, cross) = (covariance.present(), covariance.past(), covariance.cross());
    let past_chol = Cholesky::new(&past).map_err(|e| singular(n, n + e.index))?;
    let a = past_chol.solve(&cross.transpose()).transpose();
    let noise = present.sub(&a.matmul(&cross.transpose())).symmetrised();
    let noise_log_det = Cholesky::new(&noise)
        .map_err(|e| singular(n, e.index))?
        .log_det();
    let mut part_of = vec![0; n];
    for (k, part) in partition.parts().iter().enumerate() {
        for &c in part {
            part_of[c] = k;
        }
    }
    let free: Vec<(usize, usize)> = (0..n)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .filter(|&(i, j)| part_of[i] == part_of[j])
        .collect();
    // D = A - A': the cut entries are fixed at A's, the free ones start at 0 (A' = masked A).
    let mut cut = a.clone();
    for &(i, j) in &free {
        cut[(i, j)] = 0.0;
    }
    let mut d = cut.clone();
    let mut log_det = f64::INFINITY;
    let mut iterations = 0;
    let mut converged = false;
    while iterations < MAX_ITERATIONS {
        let spread = noise
            .add(&d.matmul(&past).matmul(&d.transpose()))
            .symmetrised();
        let chol = Cholesky::new(&spread).map_err(|e| singular(n, e.index))?;
        let previous = log_det;
        log_det = chol.log_det();
        if previous - log_det <= TOLERANCE {
            converged = true;
            break;
        }
        iterations += 1;
        let weight = chol.inverse();
        let rhs = weight.matmul(&cut).matmul(&past);
        let mut system = Matrix::zeros(free.len(), free.len());
        let mut target = Matrix::zeros(free.len(), 1);
        for (r, &(i, j)) in free.iter().enumerate() {
            for (c, &(k, l)) in free.iter().enumerate() {
                system[(r, c)] = weight[(i, k)] * past[(l, j)];
            }
            target[(r, 0)] = -rhs[(i, j)];
        }
        let solution = Cholesky::new(&system.symmetrised())
            .map_err(|e| singular(n, free[e.index].0))?
            .solve(&target);
        d = cut.clone();
        for (r, &(i, j)) in free.iter().enumerate() {
            d[(i, j)] = solution[(r, 0)];
        }
    }
    Ok(PhiG {
        value: 0.5 * (log_det - noise_log_det),
        iterations,
        converged,
    })
}
