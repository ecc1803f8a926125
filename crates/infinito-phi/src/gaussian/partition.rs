//! Partitions of the channels into parts.

use crate::error::{PhiError, Result};

/// A partition of the channels `0..n` into non-empty, disjoint parts that cover them all. Parts
/// are kept sorted (each part ascending, parts by their first channel), so equal partitions
/// compare equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    channels: usize,
    parts: Vec<Vec<usize>>,
}

impl Partition {
    /// Checks that `parts` partition `0..channels`.
    pub fn new(channels: usize, mut parts: Vec<Vec<usize>>) -> Result<Self> {
        let mut seen = vec![false; channels];
        for part in &mut parts {
            if part.is_empty() {
                return Err(PhiError::Config(format!("partition {parts:?}: empty part")));
            }
            part.sort_unstable();
            for &c in part.iter() {
                match seen.get_mut(c) {
                    Some(s) if !*s => *s = true,
                    Some(_) => {
                        return Err(PhiError::Config(format!(
                            "partition: channel {c} is in two parts"
                        )))
                    }
                    None => {
                        return Err(PhiError::Config(format!(
                            "partition: channel {c} does not exist (there are {channels})"
                        )))
                    }
                }
            }
        }
        if let Some(c) = seen.iter().position(|s| !s) {
            return Err(PhiError::Config(format!(
                "partition: channel {c} is in no part"
            )));
        }
        parts.sort_unstable_by_key(|p| p[0]);
        Ok(Self { channels, parts })
    }

    /// The bipartition `{part, the rest}` of `0..channels`.
    pub fn bipartition(channels: usize, part: &[usize]) -> Result<Self> {
        let rest = (0..channels).filter(|c| !part.contains(c)).collect();
        Self::new(channels, vec![part.to_vec(), rest])
    }

    /// The bipartition whose first part holds the channels of the set bits of `mask`.
    pub(crate) fn from_mask(channels: usize, mask: u64) -> Self {
        let (a, b) = (0..channels).partition(|&c| mask >> c & 1 == 1);
        Self::new(channels, vec![a, b]).expect("a mask with bits inside 0..n splits 0..n")
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The parts.
    pub fn parts(&self) -> &[Vec<usize>] {
        &self.parts
    }
}
