//! What every tool answers alike: `--version`, `--completions <SHELL>` and a `--help` that starts
//! with the tool's own purpose.

use std::collections::BTreeSet;
use std::process::{Command, Output};

const TOOLS: [(&str, &str); 9] = [
    ("analyze_rl", env!("CARGO_BIN_EXE_analyze_rl")),
    ("check_cuda", env!("CARGO_BIN_EXE_check_cuda")),
    ("check_progress", env!("CARGO_BIN_EXE_check_progress")),
    (
        "continue_training_rl",
        env!("CARGO_BIN_EXE_continue_training_rl"),
    ),
    ("generate", env!("CARGO_BIN_EXE_generate")),
    ("perplexity", env!("CARGO_BIN_EXE_perplexity")),
    ("phi_score", env!("CARGO_BIN_EXE_phi_score")),
    ("train_base_more", env!("CARGO_BIN_EXE_train_base_more")),
    (
        "train_phi_text_scheduler",
        env!("CARGO_BIN_EXE_train_phi_text_scheduler"),
    ),
];

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin).args(args).output().unwrap()
}

fn stdout_of(name: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{name}: {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn version_names_the_release_and_the_commit() {
    let commit = env!("INFINITO_GIT_COMMIT");
    assert!(!commit.is_empty());
    for (name, bin) in TOOLS {
        let text = stdout_of(name, &run(bin, &["--version"]));
        assert_eq!(
            text.trim(),
            format!("{name} {} ({commit})", env!("CARGO_PKG_VERSION")),
            "{name}"
        );
    }
}

#[test]
fn completions_for_each_shell() {
    for (name, bin) in TOOLS {
        let bash = stdout_of(name, &run(bin, &["--completions", "bash"]));
        assert!(bash.contains(&format!("complete -F _{name}")), "{name}");
        assert!(bash.contains("--completions"), "{name}");
        let zsh = stdout_of(name, &run(bin, &["--completions", "zsh"]));
        assert!(zsh.starts_with(&format!("#compdef {name}")), "{name}");
    }
    let out = run(TOOLS[0].1, &["--completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_starts_with_the_tools_own_purpose() {
    let package = env!("CARGO_PKG_DESCRIPTION");
    let mut firsts = BTreeSet::new();
    for (name, bin) in TOOLS {
        let text = stdout_of(name, &run(bin, &["--help"]));
        let first = text.lines().next().unwrap_or_default().to_string();
        assert!(!first.is_empty() && first.len() <= 100, "{name}: {first:?}");
        assert!(
            !text.contains(package),
            "{name} prints the package description"
        );
        firsts.insert(first);
    }
    assert_eq!(firsts.len(), TOOLS.len());
}
