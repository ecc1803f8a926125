//! Hub repository ids: `name` or `org/name`, with an optional `@revision`.

use std::fmt;

/// A hub repository id with an optional revision (branch, tag or commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubId {
    repo: String,
    revision: Option<String>,
}

/// True for one part of an id: letters, digits, `-`, `_`, `.`, not starting or ending with
/// `-` or `.`, no `--` or `..`, at most 96 characters (the hub's rules).
fn is_name(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 96
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && !part.starts_with(['-', '.'])
        && !part.ends_with(['-', '.'])
        && !part.contains("--")
        && !part.contains("..")
}

impl HubId {
    /// Parses `name`, `org/name`, `name@rev` or `org/name@rev`; `None` when `text` is not of
    /// that form (a path such as `./gpt2` or `a/b/c` is not).
    pub fn parse(text: &str) -> Option<Self> {
        let (repo, revision) = match text.split_once('@') {
            Some((repo, rev)) => (repo, Some(rev)),
            None => (text, None),
        };
        let parts: Vec<&str> = repo.split('/').collect();
        if parts.len() > 2 || !parts.iter().all(|p| is_name(p)) {
            return None;
        }
        let revision_ok = |r: &str| {
            !r.is_empty()
                && !r.contains("..")
                && !r.starts_with('/')
                && r.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
        };
        if revision.is_some_and(|r| !revision_ok(r)) {
            return None;
        }
        Some(Self {
            repo: repo.to_string(),
            revision: revision.map(str::to_string),
        })
    }

    /// `repo` at `revision`.
    pub fn with_revision(repo: &str, revision: &str) -> Option<Self> {
        Self::parse(&format!("{repo}@{revision}"))
    }

    /// The repository (`gpt2`, `org/name`).
    pub fn repo(&self) -> &str {
        &self.repo
    }

    /// The revision: the one given, else `main`.
    pub fn revision(&self) -> &str {
        self.revision.as_deref().unwrap_or("main")
    }
}

impl fmt::Display for HubId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.revision {
            Some(rev) => write!(f, "{}@{rev}", self.repo),
            None => f.write_str(&self.repo),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_orgs_and_revisions() {
        let id = HubId::parse("gpt2").unwrap();
        assert_eq!((id.repo(), id.revision()), ("gpt2", "main"));
        let id = HubId::parse("openai-community/gpt2-medium@v1.0").unwrap();
        assert_eq!(
            (id.repo(), id.revision()),
            ("openai-community/gpt2-medium", "v1.0")
        );
        assert_eq!(id.to_string(), "openai-community/gpt2-medium@v1.0");
        let id = HubId::parse("Salesforce/wikitext@refs/convert/parquet").unwrap();
        assert_eq!(id.revision(), "refs/convert/parquet");
    }

    #[test]
    fn refuses_paths_and_malformed_ids() {
        for text in [
            "",
            "./gpt2",
            "../gpt2",
            "a/b/c",
            "/abs",
            "gpt2@",
            "a--b",
            "-a",
            "a.",
            "a b",
            "gpt2@../x",
            "org/",
        ] {
            assert_eq!(HubId::parse(text), None, "{text:?}");
        }
    }
}
