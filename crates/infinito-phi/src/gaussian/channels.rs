//! Hidden states `[B, T, D]` reduced to `n` channels: principal components, contiguous groups
//! of units or attention heads (mean of each).

use candle_core::{DType, Device, Tensor};

use super::linalg::{dot, symmetric_eigen, Matrix};
use super::series::TimeSeries;
use crate::error::{PhiError, Result};
use infinito_kernels::rng::SplitMix64;

/// How hidden units become channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChannelMode {
    /// The top-`n` principal components of the hidden states pooled over batch and positions.
    #[default]
    Pca,
    /// `n` contiguous groups of units of (nearly) equal size, mean of each.
    Groups,
    /// `n` heads: `D` split into `n` equal slices (the GPT-2 head layout, `D % n == 0`), mean of
    /// each.
    Heads,
}

impl ChannelMode {
    /// The name used in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ChannelMode::Pca => "pca",
            ChannelMode::Groups => "groups",
            ChannelMode::Heads => "heads",
        }
    }
}

/// Up to this many hidden units the whole eigen-decomposition is computed (one Jacobi run).
const FULL_EIGEN_MAX: usize = 64;
/// Extra subspace-iteration vectors beyond the components asked for.
const OVERSAMPLING: usize = 8;
/// Subspace iterations before the current estimate is used.
const MAX_ITERATIONS: usize = 500;
/// Converged when every wanted Ritz pair has `|C v - theta v| <= TOLERANCE * theta_1`.
const TOLERANCE: f64 = 1e-9;
/// Seed of the starting subspace (fixed: the result does not depend on it once converged).
const START_SEED: u64 = 0x5eed;

/// The `n` channels of hidden states `[B, T, D]` (any float dtype, any device): time is the
/// token position, each sequence of the batch one sequence of the series.
pub fn hidden_channels(hidden: &Tensor, channels: usize, mode: ChannelMode) -> Result<TimeSeries> {
    let (b, t, d) = hidden.dims3().map_err(|_| {
        PhiError::Input(format!(
            "hidden states must be [B, T, D], got {:?}",
            hidden.dims()
        ))
    })?;
    if channels == 0 || channels > d {
        return Err(PhiError::Config(format!(
            "{channels} channels from {d} hidden units: need 1 to {d}"
        )));
    }
    if mode == ChannelMode::Heads && d % channels != 0 {
        return Err(PhiError::Config(format!(
            "{channels} heads do not divide the {d} hidden units"
        )));
    }
    let values = hidden
        .to_dtype(DType::F64)?
        .to_device(&Device::Cpu)?
        .flatten_all()?
        .to_vec1::<f64>()?;
    let data = match mode {
        ChannelMode::Pca => project_on_components(&values, d, channels),
        ChannelMode::Groups | ChannelMode::Heads => group_means(&values, d, channels),
    };
    TimeSeries::new(data, b, t, channels)
}

/// Means of `groups` contiguous slices `[g D / n, (g + 1) D / n)` of every row.
fn group_means(values: &[f64], d: usize, groups: usize) -> Vec<f64> {
    let bounds: Vec<usize> = (0..=groups).map(|g| g * d / groups).collect();
    values
        .chunks_exact(d)
        .flat_map(|row| {
            bounds
                .windows(2)
                .map(move |w| row[w[0]..w[1]].iter().sum::<f64>() / (w[1] - w[0]) as f64)
        })
        .collect()
}

/// The centred rows projected on the top `k` principal axes.
fn project_on_components(values: &[f64], d: usize, k: usize) -> Vec<f64> {
    let rows = values.len() / d;
    let mut mean = vec![0.0; d];
    for row in values.chunks_exact(d) {
        mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
    }
    mean.iter_mut().for_each(|m| *m /= rows as f64);
    let centred: Vec<f64> = values
        .chunks_exact(d)
        .flat_map(|row| row.iter().zip(&mean).map(|(v, m)| v - m))
        .collect();
    let mut cov = Matrix::zeros(d, d);
    for row in centred.chunks_exact(d) {
        for r in 0..d {
            let x = row[r];
            for c in 0..=r {
                cov[(r, c)] += x * row[c];
            }
        }
    }
    for r in 0..d {
        for c in 0..r {
            cov[(c, r)] = cov[(r, c)];
        }
    }
    let axes = top_eigenvectors(&cov, k);
    centred
        .chunks_exact(d)
        .flat_map(|row| (0..k).map(|j| (0..d).map(|i| row[i] * axes[(i, j)]).sum::<f64>()))
        .collect()
}

/// The unit eigenvectors of the `k` largest eigenvalues of the symmetric PSD matrix `c`, as
/// columns: exact up to [`FULL_EIGEN_MAX`] units, else by subspace iteration with Rayleigh-Ritz
/// on `k + OVERSAMPLING` vectors.
fn top_eigenvectors(c: &Matrix, k: usize) -> Matrix {
    let d = c.rows();
    let p = if d <= FULL_EIGEN_MAX {
        d
    } else {
        (k + OVERSAMPLING).min(d)
    };
    let mut rng = SplitMix64::new(START_SEED);
    let start: Vec<f64> = (0..d * p)
        .map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 - 0.5)
        .collect();
    let mut q = orthonormal_columns(Matrix::from_vec(d, p, start).expect("d x p values"));
    let mut iterations = 0;
    loop {
        let z = c.matmul(&q);
        let (theta, s) = symmetric_eigen(&q.transpose().matmul(&z).symmetrised());
        let ritz = q.matmul(&s);
        let image = z.matmul(&s);
        let top = theta[0].abs().max(f64::MIN_POSITIVE);
        let converged = (0..k).all(|j| {
            let residual: f64 = (0..d)
                .map(|i| (image[(i, j)] - theta[j] * ritz[(i, j)]).powi(2))
                .sum();
            residual.sqrt() <= TOLERANCE * top
        });
        iterations += 1;
        if converged || iterations == MAX_ITERATIONS || p == d {
            let all: Vec<usize> = (0..d).collect();
            return ritz.select(&all, &(0..k).collect::<Vec<_>>());
        }
        q = orthonormal_columns(z);
    }
}

/// The columns of `m` made orthonormal by modified Gram-Schmidt, applied twice.
fn orthonormal_columns(m: Matrix) -> Matrix {
    let (d, p) = (m.rows(), m.cols());
    let mut cols: Vec<Vec<f64>> = (0..p)
        .map(|j| (0..d).map(|i| m[(i, j)]).collect())
        .collect();
    for _ in 0..2 {
        for j in 0..p {
            for i in 0..j {
                let proj = dot(&cols[i], &cols[j]);
                let (done, rest) = cols.split_at_mut(j);
                rest[0]
                    .iter_mut()
                    .zip(&done[i])
                    .for_each(|(x, y)| *x -= proj * y);
            }
            let norm = dot(&cols[j], &cols[j]).sqrt();
            if norm > 0.0 {
                cols[j].iter_mut().for_each(|x| *x /= norm);
            }
        }
    }
    let mut out = Matrix::zeros(d, p);
    for (j, col) in cols.iter().enumerate() {
        for (i, &v) in col.iter().enumerate() {
            out[(i, j)] = v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_average_contiguous_units() {
        // D = 5 in 2 groups: units [0, 2) and [2, 5).
        let values = [1.0, 3.0, 2.0, 4.0, 9.0, 0.0, -2.0, 1.0, 1.0, 1.0];
        assert_eq!(group_means(&values, 5, 2), vec![2.0, 5.0, -1.0, 1.0]);
    }

    #[test]
    fn subspace_iteration_finds_the_top_axes_of_a_large_matrix() {
        // Diagonal with eigenvalues 1 / (1 + rank) at scattered positions: the top axes are unit
        // vectors at the positions of ranks 0, 1, 2.
        let d = 100;
        let position = |rank: usize| (rank * 37) % d;
        let mut c = Matrix::zeros(d, d);
        for rank in 0..d {
            c[(position(rank), position(rank))] = 1.0 / (1.0 + rank as f64);
        }
        let axes = top_eigenvectors(&c, 3);
        for j in 0..3 {
            assert!(
                (axes[(position(j), j)].abs() - 1.0).abs() < 1e-9,
                "axis {j}"
            );
        }
    }
}
