//! Non-overlapping language-model windows over a token stream.

use crate::error::{Result, TrainError};

/// Windows of `seq_len` tokens with labels shifted by one.
///
/// There are `N / seq_len` windows over `N` tokens. Window `i` reads tokens
/// `[i*L, i*L + L + 1)`, padded on the right with `pad_id` up to `L + 1` tokens; its input is
/// the first `L` of them and its labels the last `L`. Consecutive windows share one token.
#[derive(Debug, Clone)]
pub struct LmWindows {
    ids: Vec<u32>,
    seq_len: usize,
    pad_id: u32,
}

impl LmWindows {
    /// Builds the windows; fails when `seq_len` is 0 or the stream is shorter than one window.
    pub fn new(ids: Vec<u32>, seq_len: usize, pad_id: u32) -> Result<Self> {
        if seq_len == 0 {
            return Err(TrainError::invalid("seq_len", "a value >= 1", seq_len));
        }
        if ids.len() < seq_len {
            return Err(TrainError::invalid(
                "seq_len",
                "at most the corpus length in tokens",
                format!("{seq_len} for a corpus of {} tokens", ids.len()),
            ));
        }
        Ok(Self {
            ids,
            seq_len,
            pad_id,
        })
    }

    /// Number of windows.
    pub fn len(&self) -> usize {
        self.ids.len() / self.seq_len
    }

    /// Always false: construction refuses streams shorter than one window.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Tokens per window.
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// Number of tokens in the underlying stream.
    pub fn num_tokens(&self) -> usize {
        self.ids.len()
    }

    /// Appends window `index`'s input ids and labels to the two buffers.
    ///
    /// Returns `None` (appending nothing) when `index >= len()`.
    pub fn extend_window(
        &self,
        index: usize,
        inputs: &mut Vec<u32>,
        labels: &mut Vec<u32>,
    ) -> Option<()> {
        if index >= self.len() {
            return None;
        }
        let start = index * self.seq_len;
        let end = (start + self.seq_len + 1).min(self.ids.len());
        let mut seq = self.ids[start..end].to_vec();
        seq.resize(self.seq_len + 1, self.pad_id);
        inputs.extend_from_slice(&seq[..self.seq_len]);
        labels.extend_from_slice(&seq[1..]);
        Some(())
    }
}
