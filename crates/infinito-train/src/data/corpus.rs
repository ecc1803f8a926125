//! Locating a corpus split on disk and preparing its text.

use super::parquet::{is_parquet, read_text_column};
use crate::error::{Result, TrainError};
use std::path::{Path, PathBuf};

/// A dataset split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// Training data.
    Train,
    /// Validation data.
    Valid,
    /// Test data.
    Test,
}

impl Split {
    /// The split's name as used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Valid => "valid",
            Split::Test => "test",
        }
    }

    /// File names that hold this split, in order of preference: WikiText-2 raw, then tokenized.
    fn file_names(self) -> &'static [&'static str] {
        match self {
            Split::Train => &["wiki.train.raw", "train.txt"],
            Split::Valid => &["wiki.valid.raw", "valid.txt", "validation.txt"],
            Split::Test => &["wiki.test.raw", "test.txt"],
        }
    }

    /// Names of the split in Hugging Face parquet shards: `<name>-00000-of-00001.parquet`,
    /// `<name>.parquet`, or any `.parquet` file in a directory `<name>/`.
    fn parquet_names(self) -> &'static [&'static str] {
        match self {
            Split::Train => &["train"],
            Split::Valid => &["validation", "valid"],
            Split::Test => &["test"],
        }
    }

    /// True when the `/`-separated path of a parquet file names a shard of this split.
    pub fn has_shard(self, path: &str) -> bool {
        let mut parts = path.rsplit('/');
        let file = parts.next().unwrap_or_default();
        let parent = parts.next();
        let Some(stem) = file.strip_suffix(".parquet") else {
            return false;
        };
        self.parquet_names().iter().any(|name| {
            parent == Some(*name)
                || stem == *name
                || stem
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(['-', '_']))
        })
    }
}

/// The shards of `split` among `paths` (sorted `/`-separated paths), or why there are none or
/// some are missing (`train-00001-of-00002.parquet` without `train-00000-of-00002.parquet`).
pub fn split_shards(paths: &[String], split: Split) -> std::result::Result<Vec<String>, String> {
    let shards: Vec<String> = paths
        .iter()
        .filter(|p| split.has_shard(p))
        .cloned()
        .collect();
    if shards.is_empty() {
        return Err(format!("no parquet shards of the {} split", split.name()));
    }
    let total = shards.iter().find_map(|s| {
        let (_, count) = s.strip_suffix(".parquet")?.rsplit_once("-of-")?;
        count.parse::<usize>().ok()
    });
    match total {
        Some(total) if shards.len() < total => Err(format!(
            "{} of the {total} parquet shards of the {} split",
            shards.len(),
            split.name()
        )),
        _ => Ok(shards),
    }
}

/// The files that make up `split` of the corpus at `path`.
///
/// * A file is the corpus itself, whatever the split (text, or a `.parquet` file's `text`
///   column).
/// * A directory with WikiText-2 files gives the split's file: `wiki.{train,valid,test}.raw`,
///   else `{train,valid,test}.txt` (`validation.txt` is accepted too).
/// * A directory of Hugging Face parquet shards gives the split's shards
///   (`validation-00000-of-00001.parquet`, ...), in name order.
/// * A directory without split-named files gives all its `.txt` files, sorted by name, as the
///   train split; asking it for `valid` or `test` is an error.
pub fn resolve_split(path: &Path, split: Split) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => TrainError::MissingPath {
            path: path.to_path_buf(),
        },
        _ => TrainError::io(path, "read", e),
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| TrainError::io(path, "list", e))? {
        let entry = entry.map_err(|e| TrainError::io(path, "list", e))?;
        if entry.path().is_file() {
            entries.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    entries.sort();
    if let Some(name) = split
        .file_names()
        .iter()
        .find(|n| entries.iter().any(|e| e == *n))
    {
        return Ok(vec![path.join(name)]);
    }
    if entries.iter().any(|e| is_parquet(Path::new(e))) {
        return match split_shards(&entries, split) {
            Ok(shards) => Ok(shards.iter().map(|s| path.join(s)).collect()),
            Err(reason) => Err(TrainError::MissingSplit {
                dir: path.to_path_buf(),
                split: split.name(),
                expected: format!(
                    "{}-*.parquet ({reason})",
                    split.parquet_names().join("-*.parquet, ")
                ),
            }),
        };
    }
    let all_splits = [Split::Train, Split::Valid, Split::Test];
    let has_split_files = all_splits
        .iter()
        .flat_map(|s| s.file_names())
        .any(|n| entries.iter().any(|e| e == n));
    let missing = || TrainError::MissingSplit {
        dir: path.to_path_buf(),
        split: split.name(),
        expected: split.file_names().join(", "),
    };
    if has_split_files || split != Split::Train {
        return Err(missing());
    }
    let texts: Vec<PathBuf> = entries
        .iter()
        .filter(|e| {
            Path::new(e.as_str())
                .extension()
                .is_some_and(|x| x == "txt")
        })
        .map(|e| path.join(e))
        .collect();
    if texts.is_empty() {
        return Err(TrainError::EmptyCorpus {
            path: path.to_path_buf(),
            reason: format!(
                "no .txt files, expected text files or one of {}",
                split.file_names().join(", ")
            ),
        });
    }
    Ok(texts)
}

/// Prepares corpus text as the original did: lines are kept with their trailing newline,
/// lines whose stripped text is empty are dropped, and the rest are joined with `'\n'`.
pub fn prepare_text<'a>(contents: impl IntoIterator<Item = &'a str>) -> String {
    let lines: Vec<&str> = contents
        .into_iter()
        .flat_map(|c| c.split_inclusive('\n'))
        .filter(|line| !line.trim().is_empty())
        .collect();
    lines.join("\n")
}

/// Reads each file, in order: a text file as one UTF-8 string, a parquet file as the rows of
/// its `text` column.
pub(crate) fn read_texts(files: &[PathBuf]) -> Result<Vec<String>> {
    let mut texts = Vec::new();
    for file in files {
        if is_parquet(file) {
            texts.extend(read_text_column(file)?);
            continue;
        }
        let bytes = std::fs::read(file).map_err(|e| TrainError::io(file, "read", e))?;
        texts.push(String::from_utf8(bytes).map_err(|e| TrainError::NotUtf8 {
            path: file.clone(),
            valid_up_to: e.utf8_error().valid_up_to(),
        })?);
    }
    Ok(texts)
}
