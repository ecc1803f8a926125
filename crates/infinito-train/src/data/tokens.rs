//! Tokenizing a corpus once and caching the token ids on disk.

use super::corpus::{prepare_text, read_texts};
use crate::error::{Result, TrainError};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokenizers::Tokenizer;

/// Tag hashed into every cache key; change it when the text preparation changes.
const CACHE_VERSION: &[u8] = b"infinito-token-cache v1\n";

/// Where the token ids of [`tokenize_files`] came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheStatus {
    /// No cache directory was given.
    Disabled,
    /// Read from this cache file.
    Hit(PathBuf),
    /// Tokenized now and written to this cache file.
    Written(PathBuf),
}

/// The token ids of a corpus.
#[derive(Debug, Clone)]
pub struct TokenizedCorpus {
    /// The ids of the whole prepared text.
    pub ids: Vec<u32>,
    /// Whether the ids came from the cache.
    pub cache: CacheStatus,
}

/// Tokenizes the prepared text of `files` (see [`prepare_text`]) with `tokenizer`, without
/// special tokens, truncation or padding.
///
/// With `cache_dir`, ids are stored there as little-endian u32 in a file named by the SHA-256
/// of the tokenizer's JSON serialisation and the files' contents, and read back on the next call
/// with the same tokenizer and contents. A cache file of the wrong length is rewritten.
/// Fails when the prepared text is empty.
pub fn tokenize_files(
    files: &[PathBuf],
    tokenizer: &Tokenizer,
    cache_dir: Option<&Path>,
) -> Result<TokenizedCorpus> {
    let texts = read_texts(files)?;
    let cache_file = match cache_dir {
        Some(dir) => Some(dir.join(format!("{}.u32", cache_key(tokenizer, &texts)?))),
        None => None,
    };
    if let Some(file) = &cache_file {
        if let Some(ids) = read_cache(file)? {
            return Ok(TokenizedCorpus {
                ids,
                cache: CacheStatus::Hit(file.clone()),
            });
        }
    }
    let text = prepare_text(texts.iter().map(String::as_str));
    if text.is_empty() {
        return Err(empty_corpus(files, "no non-blank lines"));
    }
    let ids = encode(tokenizer, text)?;
    if ids.is_empty() {
        return Err(empty_corpus(files, "the tokenizer produced no tokens"));
    }
    let cache = match cache_file {
        Some(file) => {
            write_cache(&file, &ids)?;
            CacheStatus::Written(file)
        }
        None => CacheStatus::Disabled,
    };
    Ok(TokenizedCorpus { ids, cache })
}

fn empty_corpus(files: &[PathBuf], reason: &str) -> TrainError {
    let path = match files {
        [one] => one.clone(),
        _ => files
            .first()
            .and_then(|f| f.parent())
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    TrainError::EmptyCorpus {
        path,
        reason: format!("empty corpus ({reason}), expected text"),
    }
}

/// Hex SHA-256 of the tokenizer serialisation and the file contents, each length-prefixed.
fn cache_key(tokenizer: &Tokenizer, texts: &[String]) -> Result<String> {
    let json = tokenizer
        .to_string(false)
        .map_err(|e| TrainError::Tokenizer {
            op: "serialize it for the cache key",
            message: e.to_string(),
        })?;
    let mut hasher = Sha256::new();
    hasher.update(CACHE_VERSION);
    for part in std::iter::once(json.as_str()).chain(texts.iter().map(String::as_str)) {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn encode(tokenizer: &Tokenizer, text: String) -> Result<Vec<u32>> {
    let mut tokenizer = tokenizer.clone();
    tokenizer
        .with_truncation(None)
        .map_err(|e| TrainError::Tokenizer {
            op: "disable truncation",
            message: e.to_string(),
        })?;
    tokenizer.with_padding(None);
    let encoding = tokenizer
        .encode_fast(text, false)
        .map_err(|e| TrainError::Tokenizer {
            op: "encode the corpus",
            message: e.to_string(),
        })?;
    Ok(encoding.get_ids().to_vec())
}

/// The cached ids, or `None` when the file is absent or not a whole number of u32.
fn read_cache(file: &Path) -> Result<Option<Vec<u32>>> {
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(TrainError::io(file, "read", e)),
    };
    if bytes.is_empty() || bytes.len() % 4 != 0 {
        return Ok(None);
    }
    Ok(Some(
        bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    ))
}

fn write_cache(file: &Path, ids: &[u32]) -> Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, "create", e))?;
    }
    let bytes: Vec<u8> = ids.iter().flat_map(|id| id.to_le_bytes()).collect();
    infinito_checkpoint::write_atomic(file, &bytes)?;
    Ok(())
}
