//! Multivariate time series: `B` sequences of `T` steps of `n` channels.

use crate::error::{PhiError, Result};

/// `sequences x steps x channels` values, row-major (the layout of a `[B, T, n]` tensor).
/// Lagged pairs are taken within each sequence, never across two.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSeries {
    data: Vec<f64>,
    sequences: usize,
    steps: usize,
    channels: usize,
}

impl TimeSeries {
    /// Checks the length (`sequences * steps * channels`), that no size is zero and that every
    /// value is finite.
    pub fn new(data: Vec<f64>, sequences: usize, steps: usize, channels: usize) -> Result<Self> {
        if sequences == 0 || steps == 0 || channels == 0 {
            return Err(PhiError::Input(format!(
                "time series of {sequences} sequences x {steps} steps x {channels} channels: no size may be zero"
            )));
        }
        if data.len() != sequences * steps * channels {
            return Err(PhiError::Input(format!(
                "time series of {sequences} x {steps} x {channels} needs {} values, got {}",
                sequences * steps * channels,
                data.len()
            )));
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(PhiError::Input(format!(
                "time series value {i} is not finite ({})",
                data[i]
            )));
        }
        Ok(Self {
            data,
            sequences,
            steps,
            channels,
        })
    }

    /// Number of sequences `B`.
    pub fn sequences(&self) -> usize {
        self.sequences
    }

    /// Steps per sequence `T`.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Number of channels `n`.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The `n` channel values of sequence `b` at step `t`.
    pub fn at(&self, b: usize, t: usize) -> &[f64] {
        let start = (b * self.steps + t) * self.channels;
        &self.data[start..start + self.channels]
    }

    /// The row-major values.
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }
}
