//! One reader for settings files, and the layering of a run's settings.
//!
//! A tool's settings come in layers, each overriding the one before: the defaults (or a saved
//! configuration), a settings file (`--config`, TOML or JSON), then the flags given on the
//! command line. A flag that is not given leaves the layers below it alone, and a settings
//! file only overrides the keys it names.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Result, TrainError};

/// The keys of a settings layer (nested tables as JSON objects).
pub type Settings = Map<String, Value>;

/// Reads a `.toml` or `.json` settings file into `T`. Keys the file leaves out take `T`'s
/// defaults where `T` has `#[serde(default)]`; errors name the file (and, for TOML, the line).
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let (text, format) = read(path)?;
    parse(&text, format).map_err(|message| config_error(path, message))
}

/// Reads a settings file as a layer for [`layered`]: only the keys it names. The file is
/// also read as `T` first, so a wrong type or an unknown key is reported against the file.
pub fn load_layer<T: DeserializeOwned>(path: &Path) -> Result<Settings> {
    let (text, format) = read(path)?;
    parse::<T>(&text, format).map_err(|message| config_error(path, message))?;
    parse::<Settings>(&text, format).map_err(|message| config_error(path, message))
}

/// All keys of `value`, as a layer.
pub fn to_layer<T: Serialize>(value: &T) -> Result<Settings> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(TrainError::invalid("settings", "a struct", "another value")),
        Err(e) => Err(TrainError::invalid("settings", "UTF-8 paths", e)),
    }
}

/// `base` with the settings `file` laid over it, then the leaves of `flags` for which `given`
/// is true. `given` receives a leaf's dotted path (`epochs`, `optimizer.weight_decay`), which
/// is the id of its flag. Tables merge key by key; every other value replaces.
pub fn layered<T: Serialize + DeserializeOwned>(
    base: &T,
    file: Option<Settings>,
    flags: &T,
    given: &dyn Fn(&str) -> bool,
) -> Result<T> {
    let mut merged = to_layer(base)?;
    if let Some(file) = file {
        overlay(&mut merged, file);
    }
    overlay(&mut merged, given_leaves(to_layer(flags)?, "", given));
    serde_json::from_value(Value::Object(merged))
        .map_err(|e| TrainError::invalid("settings", "values of the right types", e))
}

/// True for the flags whose id is `id` and that the user typed, as opposed to defaults.
#[cfg(feature = "cli")]
pub fn given_on_command_line(matches: &clap::ArgMatches, id: &str) -> bool {
    matches.ids().any(|i| i.as_str() == id)
        && matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
}

/// Lays `layer` over `base`, merging tables key by key.
fn overlay(base: &mut Settings, layer: Settings) {
    for (key, value) in layer {
        match (base.get_mut(&key), value) {
            (Some(Value::Object(inner)), Value::Object(over)) => overlay(inner, over),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// The leaves of `layer` (under `prefix`) whose dotted path is `given`, with their tables.
fn given_leaves(layer: Settings, prefix: &str, given: &dyn Fn(&str) -> bool) -> Settings {
    let mut kept = Settings::new();
    for (key, value) in layer {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(inner) => {
                let inner = given_leaves(inner, &path, given);
                if !inner.is_empty() {
                    kept.insert(key, Value::Object(inner));
                }
            }
            value if given(&path) => {
                kept.insert(key, value);
            }
            _ => {}
        }
    }
    kept
}

#[derive(Clone, Copy)]
enum Format {
    Toml,
    Json,
}

fn read(path: &Path) -> Result<(String, Format)> {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let format = match extension.to_ascii_lowercase().as_str() {
        "toml" => Format::Toml,
        "json" => Format::Json,
        _ => {
            return Err(config_error(
                path,
                "unknown settings format, expected a .toml or .json file".to_string(),
            ))
        }
    };
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => TrainError::MissingPath {
            path: path.to_path_buf(),
        },
        _ => TrainError::io(path, "read", e),
    })?;
    Ok((text, format))
}

fn parse<T: DeserializeOwned>(text: &str, format: Format) -> std::result::Result<T, String> {
    match format {
        Format::Toml => toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            let message = e.message().replace('\n', " ");
            match line {
                Some(line) => format!("line {line}: {message}"),
                None => message,
            }
        }),
        Format::Json => serde_json::from_str(text).map_err(|e| e.to_string()),
    }
}

fn config_error(path: &Path, message: String) -> TrainError {
    TrainError::Config {
        path: path.to_path_buf(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Outer {
        a: u32,
        b: String,
        inner: Inner,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Inner {
        x: f64,
        y: f64,
    }

    impl Default for Outer {
        fn default() -> Self {
            Self {
                a: 1,
                b: "b".into(),
                inner: Inner::default(),
            }
        }
    }

    impl Default for Inner {
        fn default() -> Self {
            Self { x: 0.5, y: 0.25 }
        }
    }

    fn file(text: &str, name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    /// The file overrides only what it names; a given flag overrides the file, a flag left at
    /// its default does not.
    #[test]
    fn flags_given_win_over_the_file_which_wins_over_the_base() {
        let (_dir, path) = file("a = 7\n[inner]\ny = 2.0\n", "s.toml");
        let layer = load_layer::<Outer>(&path).unwrap();
        let flags = Outer {
            a: 9,
            b: "flag".into(),
            inner: Inner { x: 3.0, y: 4.0 },
        };
        let merged = layered(&Outer::default(), Some(layer.clone()), &flags, &|id| {
            id == "inner.x"
        })
        .unwrap();
        assert_eq!(
            merged,
            Outer {
                a: 7,
                b: "b".into(),
                inner: Inner { x: 3.0, y: 2.0 },
            }
        );
        let merged = layered(&Outer::default(), Some(layer), &flags, &|id| id == "a").unwrap();
        assert_eq!((merged.a, merged.inner.y), (9, 2.0));
    }

    #[test]
    fn a_bad_file_is_reported_with_its_path_and_line() {
        let (_dir, path) = file("a = 1\nc = 2\n", "s.toml");
        let err = load_layer::<Outer>(&path).unwrap_err().to_string();
        assert!(err.contains("s.toml") && err.contains("line 2"), "{err}");
        let (_dir, path) = file("{\"a\": \"x\"}", "s.json");
        let err = load::<Outer>(&path).unwrap_err().to_string();
        assert!(
            err.contains("s.json") && err.contains("invalid type"),
            "{err}"
        );
        let (_dir, path) = file("a: 1", "s.yaml");
        let err = load::<Outer>(&path).unwrap_err().to_string();
        assert!(err.contains(".toml or .json"), "{err}");
    }
}
