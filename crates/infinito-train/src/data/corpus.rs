//! Locating a corpus split on disk and preparing its text.

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

    /// Prefix of the split's Hugging Face parquet shards (`validation-00000-of-00001.parquet`).
    fn parquet_prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Valid => "validation",
            Split::Test => "test",
        }
    }
}

fn parquet_error(path: &Path) -> TrainError {
    TrainError::UnsupportedFormat {
        path: path.to_path_buf(),
        format: "parquet",
        hint: "convert the split to a .txt file with one line per row",
    }
}

fn is_parquet(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "parquet")
}

/// The files that make up `split` of the corpus at `path`.
///
/// * A file is the corpus itself, whatever the split (a `.parquet` file is refused).
/// * A directory with WikiText-2 files gives the split's file: `wiki.{train,valid,test}.raw`,
///   else `{train,valid,test}.txt` (`validation.txt` is accepted too).
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
        if is_parquet(path) {
            return Err(parquet_error(path));
        }
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
    if let Some(shard) = entries.iter().find(|e| {
        let p = Path::new(e.as_str());
        is_parquet(p) && e.starts_with(split.parquet_prefix())
    }) {
        return Err(parquet_error(&path.join(shard)));
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

/// Reads each file as UTF-8 text, in order.
pub(crate) fn read_texts(files: &[PathBuf]) -> Result<Vec<String>> {
    files
        .iter()
        .map(|file| {
            let bytes = std::fs::read(file).map_err(|e| TrainError::io(file, "read", e))?;
            String::from_utf8(bytes).map_err(|e| TrainError::NotUtf8 {
                path: file.clone(),
                valid_up_to: e.utf8_error().valid_up_to(),
            })
        })
        .collect()
}
