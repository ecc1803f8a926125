//! Corpus loading: split files, text preparation, cached tokenization, windows and batches.
//!
//! Reads WikiText-2 raw (`wiki.train.raw`, ...), the tokenized release (`train.txt`, ...), any
//! plain text file, a directory of `.txt` files, Hugging Face parquet shards (the `text`
//! column), or a hub data set by name ([`DataSource`]).

mod batches;
mod corpus;
mod parquet;
mod source;
mod tokens;
mod windows;

pub use batches::{Batch, BatchPosition, Batches, Order};
pub use corpus::{prepare_text, resolve_split, split_shards, Split};
pub use parquet::read_text_column;
pub use source::{data_source, DataSource, HUB_PREFIX, WIKITEXT_CONFIGS, WIKITEXT_REPO};
pub use tokens::{tokenize_files, CacheStatus, TokenizedCorpus};
pub use windows::LmWindows;

use crate::error::{Result, TrainError};
use std::path::Path;
use tokenizers::Tokenizer;

/// Resolves `split` of the corpus `path` names (see [`DataSource::parse`]), tokenizes it
/// (through the cache when `cache_dir` is given) and cuts it into windows of `seq_len` tokens
/// padded with `pad_id`.
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
    let files = data_source(path)?.split_files(split)?;
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
