//! Which files of a model repository a tool needs.

/// Files to take from a repository: each required group needs one of its names (the first one
/// the repository has is taken); optional files are taken when present.
#[derive(Debug, Clone, Copy)]
pub struct FileSet {
    /// What the files make up, for messages (`a GPT-2`).
    pub what: &'static str,
    /// Alternatives, in order of preference, of which one is needed.
    pub required: &'static [&'static [&'static str]],
    /// Files used when present.
    pub optional: &'static [&'static str],
}

/// A Hugging Face GPT-2: config, weights (safetensors preferred), tokenizer files if any.
pub const GPT2_FILES: FileSet = FileSet {
    what: "a GPT-2",
    required: &[
        &["config.json"],
        &["model.safetensors", "pytorch_model.bin"],
    ],
    optional: &["tokenizer.json", "vocab.json", "merges.txt"],
};

/// A peft LoRA adapter.
pub const ADAPTER_FILES: FileSet = FileSet {
    what: "a peft adapter",
    required: &[&["adapter_config.json"], &["adapter_model.safetensors"]],
    optional: &[],
};

impl FileSet {
    /// The files to take from `available`, or which required one is missing.
    pub fn select(&self, available: &[String]) -> Result<Vec<String>, String> {
        let has = |name: &str| available.iter().any(|a| a == name);
        let mut chosen = Vec::new();
        for group in self.required {
            match group.iter().find(|name| has(name)) {
                Some(name) => chosen.push(name.to_string()),
                None => {
                    return Err(format!(
                        "no {} (expected {})",
                        group.join(" or "),
                        self.what
                    ))
                }
            }
        }
        chosen.extend(
            self.optional
                .iter()
                .filter(|n| has(n))
                .map(|n| n.to_string()),
        );
        Ok(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn takes_the_preferred_weights_and_present_tokenizer_files() {
        let repo = names(&[
            "config.json",
            "pytorch_model.bin",
            "model.safetensors",
            "vocab.json",
            "README.md",
        ]);
        assert_eq!(
            GPT2_FILES.select(&repo).unwrap(),
            ["config.json", "model.safetensors", "vocab.json"]
        );
        let err = GPT2_FILES.select(&names(&["config.json"])).unwrap_err();
        assert_eq!(
            err,
            "no model.safetensors or pytorch_model.bin (expected a GPT-2)"
        );
    }
}
