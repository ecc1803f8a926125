//! Corpus loading: split files, text preparation, cached tokenization, windows and batches.
//!
//! Reads WikiText-2 raw (`wiki.train.raw`, ...), the tokenized release (`train.txt`, ...), any
//! plain text file, or a directory of `.txt` files. Hugging Face parquet shards are recognised
//! and refused with a hint to convert them to text.

mod batches;
mod corpus;
mod tokens;
mod windows;

pub use batches::{Batch, BatchPosition, Batches, Order};
pub use corpus::{prepare_text, resolve_split, Split};
pub use tokens::{tokenize_files, CacheStatus, TokenizedCorpus};
pub use windows::LmWindows;

use crate::error::{Result, TrainError};
use std::path::Path;
use tokenizers::Tokenizer;

/// Resolves `split` under `path`, tokenizes it (through the cache when `cache_dir` is given)
/// and cuts it into windows of `seq_len` tokens padded with `pad_id`.
///
/// A corpus shorter than one window is reported as [`TrainError::EmptyCorpus`] naming `path`.
pub fn load_split(
    path: &Path,
    split: Split,
    tokenizer: &Tokenizer,
    cache_dir: Option<&Path>,
    seq_len: usize,
    pad_id: u32,
) -> Result<(LmWindows, CacheStatus)> {
    let files = resolve_split(path, split)?;
    let corpus = tokenize_files(&files, tokenizer, cache_dir)?;
    if corpus.ids.len() < seq_len {
        return Err(TrainError::EmptyCorpus {
            path: path.to_path_buf(),
            reason: format!(
                "the {} split has {} tokens, expected at least seq_len = {seq_len}",
                split.name(),
                corpus.ids.len()
            ),
        });
    }
    Ok((LmWindows::new(corpus.ids, seq_len, pad_id)?, corpus.cache))
}
