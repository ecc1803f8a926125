//! What `--data` names: a local file or directory, a WikiText configuration by name, or any hub
//! data set with a `text` column.

use super::corpus::{resolve_split, split_shards, Split};
use crate::error::{Result, TrainError};
use infinito_hub::{Hub, HubId, RepoKind};
use std::path::{Path, PathBuf};

/// The hub data set holding WikiText's parquet shards.
pub const WIKITEXT_REPO: &str = "Salesforce/wikitext";
/// The WikiText configurations `--data` accepts by name.
pub const WIKITEXT_CONFIGS: [&str; 4] = [
    "wikitext-2-raw-v1",
    "wikitext-2-v1",
    "wikitext-103-raw-v1",
    "wikitext-103-v1",
];
/// The prefix of a hub data set in `--data` (`hf:org/name[@revision][:config]`).
pub const HUB_PREFIX: &str = "hf:";

/// Where a corpus comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    /// A text or parquet file, or a directory (see [`resolve_split`]).
    Local(PathBuf),
    /// Parquet shards of a hub data set, from the hub cache or downloaded.
    Hub {
        /// The data set.
        id: HubId,
        /// Its configuration (the shards' top directory), if one is named.
        config: Option<String>,
    },
}

impl DataSource {
    /// What `arg` names: an existing path first, then a WikiText name, then
    /// `hf:org/name[@revision][:config]`; `None` for anything else.
    pub fn parse(arg: &Path) -> Option<Self> {
        if arg.exists() {
            return Some(Self::Local(arg.to_path_buf()));
        }
        let text = arg.to_str()?;
        if WIKITEXT_CONFIGS.contains(&text) {
            return Some(Self::Hub {
                id: HubId::parse(WIKITEXT_REPO)?,
                config: Some(text.to_string()),
            });
        }
        let rest = text.strip_prefix(HUB_PREFIX)?;
        let (id, config) = match rest.split_once(':') {
            Some((id, config)) if !config.is_empty() && !config.contains(['/', '\\']) => {
                (id, Some(config.to_string()))
            }
            Some(_) => return None,
            None => (rest, None),
        };
        Some(Self::Hub {
            id: HubId::parse(id)?,
            config,
        })
    }

    /// What `--data` accepts, for messages.
    pub fn expected() -> String {
        format!(
            "an existing file or directory, {}, or {HUB_PREFIX}org/name[:config]",
            WIKITEXT_CONFIGS.join(", ")
        )
    }

    /// The files of `split`: local ones, or the data set's shards from the hub cache
    /// (downloaded when missing and not offline).
    pub fn split_files(&self, split: Split) -> Result<Vec<PathBuf>> {
        match self {
            DataSource::Local(path) => resolve_split(path, split),
            DataSource::Hub { id, config } => {
                let select =
                    |available: &[String]| select_shards(available, config.as_deref(), split);
                let snapshot = Hub::from_env().fetch(RepoKind::Dataset, id, &select)?;
                Ok(snapshot.files.iter().map(|f| snapshot.path(f)).collect())
            }
        }
    }
}

/// The parquet shards of `split` among a data set's files, within `config` when named;
/// without one, the data set must have a single configuration.
fn select_shards(
    available: &[String],
    config: Option<&str>,
    split: Split,
) -> std::result::Result<Vec<String>, String> {
    let parquet: Vec<String> = available
        .iter()
        .filter(|p| p.ends_with(".parquet"))
        .filter(|p| config.is_none_or(|c| p.split('/').next() == Some(c)))
        .cloned()
        .collect();
    let shards = split_shards(&parquet, split).map_err(|reason| match config {
        Some(c) => format!("{reason} in configuration {c}"),
        None => reason,
    })?;
    let mut configs: Vec<&str> = shards
        .iter()
        .filter_map(|s| s.split_once('/').map(|(top, _)| top))
        .collect();
    configs.dedup();
    if config.is_none() && configs.len() > 1 {
        return Err(format!(
            "several configurations ({}): name one with {HUB_PREFIX}org/name:CONFIG",
            configs.join(", ")
        ));
    }
    Ok(shards)
}

impl std::fmt::Display for DataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataSource::Local(path) => write!(f, "{}", path.display()),
            DataSource::Hub { id, config } => match config {
                Some(c) => write!(f, "{HUB_PREFIX}{id}:{c}"),
                None => write!(f, "{HUB_PREFIX}{id}"),
            },
        }
    }
}

/// [`DataSource::parse`], or the `--data` error naming what is accepted.
pub fn data_source(arg: &Path) -> Result<DataSource> {
    DataSource::parse(arg)
        .ok_or_else(|| TrainError::flag("--data", arg.display(), DataSource::expected()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_resolve_to_hub_data_sets() {
        let wikitext = DataSource::parse(Path::new("wikitext-103-v1")).unwrap();
        assert_eq!(
            wikitext.to_string(),
            "hf:Salesforce/wikitext:wikitext-103-v1"
        );
        let any = DataSource::parse(Path::new("hf:org/data@v2:en")).unwrap();
        assert_eq!(
            any,
            DataSource::Hub {
                id: HubId::parse("org/data@v2").unwrap(),
                config: Some("en".to_string())
            }
        );
        for bad in [
            "wikitext-2",
            "hf:",
            "hf:a/b/c",
            "hf:org/data:",
            "no/such/dir",
        ] {
            assert_eq!(DataSource::parse(Path::new(bad)), None, "{bad}");
        }
    }

    #[test]
    fn shards_are_chosen_by_configuration_and_split() {
        let files = names(&[
            "README.md",
            "wikitext-103-raw-v1/train-00000-of-00002.parquet",
            "wikitext-103-raw-v1/train-00001-of-00002.parquet",
            "wikitext-2-raw-v1/test-00000-of-00001.parquet",
            "wikitext-2-raw-v1/train-00000-of-00001.parquet",
            "wikitext-2-raw-v1/validation-00000-of-00001.parquet",
        ]);
        assert_eq!(
            select_shards(&files, Some("wikitext-103-raw-v1"), Split::Train).unwrap(),
            &files[1..3]
        );
        assert_eq!(
            select_shards(&files, Some("wikitext-2-raw-v1"), Split::Valid).unwrap(),
            &files[5..6]
        );
        let err = select_shards(&files, Some("wikitext-103-raw-v1"), Split::Valid).unwrap_err();
        assert_eq!(
            err,
            "no parquet shards of the valid split in configuration wikitext-103-raw-v1"
        );
        let err = select_shards(&files, None, Split::Train).unwrap_err();
        assert!(
            err.starts_with("several configurations (wikitext-103-raw-v1, wikitext-2-raw-v1)"),
            "{err}"
        );
        assert_eq!(
            select_shards(&files, None, Split::Test).unwrap(),
            &files[3..4]
        );
        let partial = names(&["en/train-00001-of-00002.parquet"]);
        assert_eq!(
            select_shards(&partial, Some("en"), Split::Train).unwrap_err(),
            "1 of the 2 parquet shards of the train split in configuration en"
        );
        let converted = names(&[
            "default/train/0000.parquet",
            "default/validation/0000.parquet",
        ]);
        assert_eq!(
            select_shards(&converted, None, Split::Valid).unwrap(),
            &converted[1..]
        );
    }
}
