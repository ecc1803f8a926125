//! The joint covariance of `[X_t, X_{t-tau}]`: estimated from time series (with optional
//! Ledoit-Wolf shrinkage and ridge) or given exactly, and the log-determinants of its blocks.

use super::linalg::{cholesky_in_place, Cholesky, Matrix};
use super::series::TimeSeries;
use crate::error::{PhiError, Result};

/// `ln(2 pi e)`: the per-dimension constant of the Gaussian differential entropy.
pub(crate) const LN_2PI_E: f64 = 2.837_877_066_409_345_3;

/// How the sample covariance is regularised towards independence.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Shrinkage {
    /// The plain sample covariance.
    #[default]
    None,
    /// Ledoit-Wolf: the correlations (off-diagonal entries of the standardised covariance) are
    /// shrunk towards zero by the intensity of Ledoit & Wolf (2004), computed as scikit-learn's
    /// `ledoit_wolf_shrinkage` on the standardised lagged pairs. Variances are kept, so every
    /// measure stays invariant to per-channel scaling.
    LedoitWolf,
    /// Correlations multiplied by `1 - lambda`, `lambda` in `[0, 1]`.
    Fixed(f64),
}

/// Options of [`LaggedCovariance::estimate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CovarianceOptions {
    /// The lag `tau >= 1` between "past" and "present".
    pub lag: usize,
    /// Shrinkage of the correlations.
    pub shrinkage: Shrinkage,
    /// Ridge: every variance is multiplied by `1 + ridge` (a relative ridge, which keeps the
    /// scale invariance and makes any covariance with non-zero variances positive definite).
    pub ridge: f64,
}

impl Default for CovarianceOptions {
    fn default() -> Self {
        Self {
            lag: 1,
            shrinkage: Shrinkage::None,
            ridge: 0.0,
        }
    }
}

/// The covariance of `Z = [X_t; X_{t-tau}]` (`2n x 2n`, present channels first): the present
/// block `Cov(X_t)`, the past block `Cov(X_{t-tau})` and the cross block `Cov(X_t, X_{t-tau})`.
/// Always positive definite.
#[derive(Debug, Clone, PartialEq)]
pub struct LaggedCovariance {
    joint: Matrix,
    channels: usize,
}

/// A covariance estimated from a time series, with what the estimate was made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// The regularised covariance.
    pub covariance: LaggedCovariance,
    /// Number of lagged pairs `(x_t, x_{t-tau})` pooled over the sequences.
    pub pairs: usize,
    /// The shrinkage intensity applied to the correlations (0 without shrinkage).
    pub shrinkage: f64,
}

/// Log-determinants of the covariance blocks of one set of channels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LogDets {
    /// `log det Cov([M_t; M_{t-tau}])`.
    pub joint: f64,
    /// `log det Cov(M_t)`.
    pub present: f64,
    /// `log det Cov(M_{t-tau})`.
    pub past: f64,
}

/// Reusable buffer for the block factorisations of a search.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    buffer: Vec<f64>,
    indices: Vec<usize>,
}

impl LaggedCovariance {
    /// Estimates the covariance of the lagged pairs of `series`: the pairs `(x_t, x_{t-tau})` of
    /// every sequence are pooled, centred on their mean and averaged with divisor `pairs - 1`;
    /// then shrinkage and ridge are applied.
    pub fn estimate(series: &TimeSeries, options: &CovarianceOptions) -> Result<Estimate> {
        let (n, lag) = (series.channels(), options.lag);
        if lag == 0 || lag >= series.steps() {
            return Err(PhiError::Config(format!(
                "lag {lag}: must be between 1 and the number of steps minus one ({})",
                series.steps().saturating_sub(1)
            )));
        }
        check_fraction("ridge", options.ridge, f64::INFINITY)?;
        let pairs = series.sequences() * (series.steps() - lag);
        if pairs < 2 {
            return Err(PhiError::Input(format!(
                "{pairs} lagged pair(s): need at least 2 to estimate a covariance"
            )));
        }
        let p = 2 * n;
        let pair = |b: usize, t: usize| series.at(b, t).iter().chain(series.at(b, t - lag));
        let mut mean = vec![0.0; p];
        for b in 0..series.sequences() {
            for t in lag..series.steps() {
                for (m, v) in mean.iter_mut().zip(pair(b, t)) {
                    *m += v;
                }
            }
        }
        mean.iter_mut().for_each(|m| *m /= pairs as f64);
        let mut centred = Vec::with_capacity(pairs * p);
        for b in 0..series.sequences() {
            for t in lag..series.steps() {
                centred.extend(pair(b, t).zip(&mean).map(|(v, m)| v - m));
            }
        }
        let mut joint = Matrix::zeros(p, p);
        for z in centred.chunks_exact(p) {
            for r in 0..p {
                for c in 0..=r {
                    joint[(r, c)] += z[r] * z[c];
                }
            }
        }
        for r in 0..p {
            for c in 0..=r {
                let v = joint[(r, c)] / (pairs - 1) as f64;
                joint[(r, c)] = v;
                joint[(c, r)] = v;
            }
        }
        let intensity = match options.shrinkage {
            Shrinkage::None => 0.0,
            Shrinkage::Fixed(lambda) => check_fraction("shrinkage", lambda, 1.0)?,
            Shrinkage::LedoitWolf => ledoit_wolf_intensity(&centred, &joint),
        };
        for r in 0..p {
            for c in 0..p {
                if r != c {
                    joint[(r, c)] *= 1.0 - intensity;
                }
            }
            joint[(r, r)] *= 1.0 + options.ridge;
        }
        Ok(Estimate {
            covariance: Self::from_joint(joint, n)?,
            pairs,
            shrinkage: intensity,
        })
    }

    /// The covariance of a process given exactly by its blocks: `present = Cov(X_t)`,
    /// `past = Cov(X_{t-tau})` (equal to `present` for a stationary process) and
    /// `cross = Cov(X_t, X_{t-tau})` (`A^tau S` for the AR(1) process `X_t = A X_{t-1} + e`
    /// with stationary covariance `S`).
    pub fn from_blocks(present: &Matrix, past: &Matrix, cross: &Matrix) -> Result<Self> {
        let n = present.rows();
        for (name, m) in [("present", present), ("past", past), ("cross", cross)] {
            if (m.rows(), m.cols()) != (n, n) {
                return Err(PhiError::Input(format!(
                    "{name} block is {}x{}, expected {n}x{n}",
                    m.rows(),
                    m.cols()
                )));
            }
        }
        let mut joint = Matrix::zeros(2 * n, 2 * n);
        for r in 0..n {
            for c in 0..n {
                joint[(r, c)] = present[(r, c)];
                joint[(n + r, n + c)] = past[(r, c)];
                joint[(r, n + c)] = cross[(r, c)];
                joint[(n + c, r)] = cross[(r, c)];
            }
        }
        Self::from_joint(joint.symmetrised(), n)
    }

    fn from_joint(joint: Matrix, channels: usize) -> Result<Self> {
        if channels == 0 {
            return Err(PhiError::Input("no channels".to_string()));
        }
        Cholesky::new(&joint).map_err(|e| singular(channels, e.index))?;
        Ok(Self { joint, channels })
    }

    /// Number of channels `n`.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The `2n x 2n` covariance of `[X_t; X_{t-tau}]`.
    pub fn joint(&self) -> &Matrix {
        &self.joint
    }

    /// `Cov(X_t)`.
    pub fn present(&self) -> Matrix {
        let n = self.channels;
        self.joint.select(&range(0, n), &range(0, n))
    }

    /// `Cov(X_{t-tau})`.
    pub fn past(&self) -> Matrix {
        let n = self.channels;
        self.joint.select(&range(n, 2 * n), &range(n, 2 * n))
    }

    /// `Cov(X_t, X_{t-tau})` (rows: present, columns: past).
    pub fn cross(&self) -> Matrix {
        let n = self.channels;
        self.joint.select(&range(0, n), &range(n, 2 * n))
    }

    /// The differential entropy `H(M_t) = (|M| ln(2 pi e) + ln det Cov(M_t)) / 2` of the
    /// present of `channels`, in nats.
    pub fn entropy(&self, channels: &[usize]) -> Result<f64> {
        let block = self.joint.select(channels, channels);
        let log_det = Cholesky::new(&block)
            .map_err(|e| singular(self.channels, channels[e.index]))?
            .log_det();
        Ok(0.5 * (channels.len() as f64 * LN_2PI_E + log_det))
    }

    /// The multi-information (total correlation) of the present channels:
    /// `sum_i H(X_i,t) - H(X_t)`, in nats.
    pub fn multi_information(&self) -> Result<f64> {
        let n = self.channels;
        let all = self.entropy(&range(0, n))?;
        let singles: f64 = (0..n)
            .map(|i| 0.5 * (LN_2PI_E + self.joint[(i, i)].ln()))
            .sum();
        Ok(singles - all)
    }

    /// The mutual information between past and present, `I(X_t; X_{t-tau})`, in nats.
    pub fn mutual_information(&self) -> Result<f64> {
        let d = self.log_dets(&range(0, self.channels), &mut Scratch::default())?;
        Ok(0.5 * (d.present + d.past - d.joint))
    }

    /// The log-determinants of the blocks of `channels` (any order, no duplicates).
    pub(crate) fn log_dets(&self, channels: &[usize], scratch: &mut Scratch) -> Result<LogDets> {
        let (n, m) = (self.channels, channels.len());
        // The joint block ordered [past; present]: its first m pivots factor the past block.
        scratch.indices.clear();
        scratch.indices.extend(channels.iter().map(|&c| n + c));
        scratch.indices.extend_from_slice(channels);
        let failed = |index: usize| singular(n, index);
        let joint = self.factor(2 * m, scratch).map_err(failed)?;
        let past = (0..m)
            .map(|i| 2.0 * scratch.buffer[i * 2 * m + i].ln())
            .sum();
        scratch.indices.truncate(0);
        scratch.indices.extend_from_slice(channels);
        let present = self.factor(m, scratch).map_err(failed)?;
        Ok(LogDets {
            joint,
            present,
            past,
        })
    }

    /// Factors the block of `scratch.indices` into `scratch.buffer`; on failure, the joint index
    /// of the variable whose pivot failed.
    fn factor(&self, d: usize, scratch: &mut Scratch) -> std::result::Result<f64, usize> {
        let Scratch { buffer, indices } = scratch;
        buffer.clear();
        for &r in indices.iter() {
            let row = self.joint.row(r);
            buffer.extend(indices.iter().map(|&c| row[c]));
        }
        cholesky_in_place(buffer, d).map_err(|e| indices[e.index])
    }
}

/// `start..end` as a vector.
pub(crate) fn range(start: usize, end: usize) -> Vec<usize> {
    (start..end).collect()
}

/// The error for a covariance that is not positive definite at joint variable `index`
/// (`index < n`: channel `index` at time t; else channel `index - n` at time t - tau).
pub(crate) fn singular(channels: usize, index: usize) -> PhiError {
    let (channel, when) = if index < channels {
        (index, "t")
    } else {
        (index - channels, "t - lag")
    };
    PhiError::SingularCovariance { channel, when }
}

fn check_fraction(name: &str, value: f64, max: f64) -> Result<f64> {
    if (0.0..=max).contains(&value) {
        Ok(value)
    } else {
        Err(PhiError::Config(format!(
            "{name} {value}: must be between 0 and {max}"
        )))
    }
}

/// The Ledoit-Wolf intensity for the correlations: scikit-learn's `ledoit_wolf_shrinkage` of the
/// centred pairs standardised by the sample variances (`assume_centered=True`).
fn ledoit_wolf_intensity(centred: &[f64], covariance: &Matrix) -> f64 {
    let p = covariance.rows();
    let n = (centred.len() / p) as f64;
    let inv_sd: Vec<f64> = (0..p)
        .map(|i| {
            let v = covariance[(i, i)];
            if v > 0.0 {
                1.0 / v.sqrt()
            } else {
                0.0
            }
        })
        .collect();
    let mut emp = Matrix::zeros(p, p);
    let mut beta_sum = 0.0;
    let mut u = vec![0.0; p];
    for z in centred.chunks_exact(p) {
        for ((ui, zi), s) in u.iter_mut().zip(z).zip(&inv_sd) {
            *ui = zi * s;
        }
        let squares: f64 = u.iter().map(|x| x * x).sum();
        beta_sum += squares * squares;
        for r in 0..p {
            for c in 0..p {
                emp[(r, c)] += u[r] * u[c];
            }
        }
    }
    let emp_trace = emp.trace() / n;
    let mu = emp_trace / p as f64;
    let delta_raw: f64 = emp.as_slice().iter().map(|x| x * x).sum::<f64>() / (n * n);
    let beta = (beta_sum / n - delta_raw) / (p as f64 * n);
    let delta = (delta_raw - 2.0 * mu * emp_trace + p as f64 * mu * mu) / p as f64;
    let beta = beta.min(delta);
    if beta == 0.0 {
        0.0
    } else {
        beta / delta
    }
}
