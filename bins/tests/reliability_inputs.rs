//! Bad input to every binary: missing, empty, directory, truncated, random and wrong-kind files,
//! huge sizes, negative and NaN values. Every case must exit with status 2 and one line on
//! stderr, leave the files that existed unchanged, and stay under a memory bound.

mod reliability;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reliability::{run_limited, Rng};

/// The kinds of bad file every file flag is tried with.
const FILE_KINDS: [&str; 6] = [
    "missing",
    "empty",
    "directory",
    "truncated",
    "random",
    "wrong_kind",
];

/// A workspace of bad files, plus a few good ones that some cases need besides the bad one.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let good = fixtures("infinito-model").join("tiny-gpt2/model.safetensors");
        let bytes = std::fs::read(good).unwrap();
        std::fs::write(root.join("truncated"), &bytes[..bytes.len() / 2]).unwrap();
        std::fs::write(root.join("empty"), b"").unwrap();
        std::fs::create_dir(root.join("directory")).unwrap();
        let mut rng = Rng::new(7);
        let random: Vec<u8> = (0..4096).map(|_| rng.next_u64() as u8).collect();
        std::fs::write(root.join("random"), random).unwrap();
        std::fs::write(root.join("wrong_kind"), br#"{"model_type": "llama"}"#).unwrap();
        std::fs::write(root.join("probe.jsonl"), "[0, 0, 0, 0, 0, 0]\n").unwrap();
        Self { dir }
    }

    fn path(&self, kind: &str) -> String {
        self.dir.path().join(kind).display().to_string()
    }

    /// Every file under the workspace with its content, to check that none changed.
    fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![self.dir.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    out.insert(path.clone(), std::fs::read(&path).unwrap());
                }
            }
        }
        out
    }
}

fn fixtures(krate: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("crates")
        .join(krate)
        .join("tests/fixtures")
}

/// The binary of `name`.
fn bin(name: &str) -> &'static str {
    match name {
        "perplexity" => env!("CARGO_BIN_EXE_perplexity"),
        "generate" => env!("CARGO_BIN_EXE_generate"),
        "phi_score" => env!("CARGO_BIN_EXE_phi_score"),
        "train_base_more" => env!("CARGO_BIN_EXE_train_base_more"),
        "train_phi_text_scheduler" => env!("CARGO_BIN_EXE_train_phi_text_scheduler"),
        "continue_training_rl" => env!("CARGO_BIN_EXE_continue_training_rl"),
        "analyze_rl" => env!("CARGO_BIN_EXE_analyze_rl"),
        "check_progress" => env!("CARGO_BIN_EXE_check_progress"),
        other => panic!("no binary {other}"),
    }
}

/// Commands with a file flag; `{F}` stands for the bad file, `{OUT}` for a fresh output
/// directory, `{PROBE}` for a good probe file.
const FILE_CASES: &[(&str, &[&str])] = &[
    ("perplexity", &["--model", "{F}", "--text", "hello"]),
    ("generate", &["--checkpoint", "{F}", "--max-length", "2"]),
    (
        "generate",
        &["--checkpoint", "{F}", "--report", "--max-length", "2"],
    ),
    ("phi_score", &["--input", "{F}"]),
    (
        "train_base_more",
        &["--checkpoint", "{F}", "--output", "{OUT}"],
    ),
    ("train_base_more", &["--config", "{F}", "--output", "{OUT}"]),
    ("train_base_more", &["--model", "{F}", "--output", "{OUT}"]),
    (
        "train_phi_text_scheduler",
        &["--config", "{F}", "--output", "{OUT}"],
    ),
    (
        "train_phi_text_scheduler",
        &["--base-checkpoint", "{F}", "--output", "{OUT}"],
    ),
    (
        "continue_training_rl",
        &["--checkpoint", "{F}", "--output", "{OUT}"],
    ),
    ("analyze_rl", &["{F}"]),
    ("analyze_rl", &["--checkpoint", "{F}", "--probe", "{PROBE}"]),
    ("check_progress", &["{F}"]),
];

/// Cases that are valid input by design: an empty directory is a run that has not logged yet.
const NOT_BAD: &[(&str, &str)] = &[("check_progress", "directory")];

/// Commands with a huge, negative or NaN value.
const VALUE_CASES: &[(&str, &[&str])] = &[
    ("generate", &["--temperature", "-1"]),
    ("generate", &["--temperature", "NaN"]),
    ("generate", &["--top-p", "-0.5"]),
    ("generate", &["--num-samples", "1000000000000"]),
    (
        "phi_score",
        &["--input", "{GAUSSIAN}", "--perplexity", "NaN"],
    ),
    (
        "phi_score",
        &["--input", "{GAUSSIAN}", "--perplexity", "-3"],
    ),
    (
        "phi_score",
        &[
            "--input",
            "{GAUSSIAN}",
            "--measure",
            "gaussian",
            "--ridge",
            "-1",
        ],
    ),
    (
        "train_base_more",
        &["--output", "{OUT}", "--batch-size", "1000000"],
    ),
    (
        "train_base_more",
        &["--output", "{OUT}", "--seq-len", "100000000"],
    ),
    (
        "train_base_more",
        &["--output", "{OUT}", "--memory-slots", "1000000000"],
    ),
    (
        "train_base_more",
        &["--output", "{OUT}", "--lora-r", "100000"],
    ),
    ("train_base_more", &["--output", "{OUT}", "--lr", "NaN"]),
    ("train_base_more", &["--output", "{OUT}", "--lr", "-1"]),
    (
        "train_base_more",
        &["--output", "{OUT}", "--lora-alpha", "0"],
    ),
    (
        "train_phi_text_scheduler",
        &["--output", "{OUT}", "--batch-size", "100000000"],
    ),
    (
        "train_phi_text_scheduler",
        &["--output", "{OUT}", "--n-steps", "100000000"],
    ),
    (
        "train_phi_text_scheduler",
        &["--output", "{OUT}", "--lr", "-1"],
    ),
    (
        "continue_training_rl",
        &["--output", "{OUT}", "--timesteps", "-5"],
    ),
    ("analyze_rl", &["{OUT}", "--phases", "-1"]),
    ("check_progress", &["{OUT}", "--recent", "-1"]),
];

/// Runs one case and checks exit status 2, one line of stderr and unchanged files.
fn check_case(files: &Files, name: &str, args: &[&str], bad: &str) -> Option<String> {
    let out = files.dir.path().join("out");
    let gaussian = fixtures("infinito-phi").join("gaussian_hidden.safetensors");
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            a.replace("{F}", bad)
                .replace("{OUT}", &out.display().to_string())
                .replace("{PROBE}", &files.path("probe.jsonl"))
                .replace("{GAUSSIAN}", &gaussian.display().to_string())
        })
        .collect();
    let before = files.snapshot();
    let result = run_limited(bin(name), &args, files.dir.path());
    let after = files.snapshot();
    let _ = std::fs::remove_dir_all(&out);
    let label = format!("{name} {}", args.join(" "));
    let stderr = result.stderr.trim_end();
    if result.code != Some(2) {
        return Some(format!(
            "{label}: exit {:?}, stderr {stderr:?}",
            result.code
        ));
    }
    if stderr.lines().count() != 1 || !stderr.starts_with("error: ") {
        return Some(format!("{label}: stderr is not one error line: {stderr:?}"));
    }
    for (path, bytes) in &before {
        if after.get(path) != Some(bytes) {
            return Some(format!("{label}: changed {}", path.display()));
        }
    }
    None
}

#[test]
fn every_bad_file_exits_2_with_one_line() {
    let files = Files::new();
    let mut failures = Vec::new();
    let mut cases = 0;
    for (name, args) in FILE_CASES {
        for kind in FILE_KINDS {
            if NOT_BAD.contains(&(*name, kind)) {
                continue;
            }
            cases += 1;
            failures.extend(check_case(&files, name, args, &files.path(kind)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_bad_value_exits_2_with_one_line() {
    let files = Files::new();
    let failures: Vec<String> = VALUE_CASES
        .iter()
        .filter_map(|(name, args)| check_case(&files, name, args, ""))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        VALUE_CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn argument_errors_are_one_line_and_help_is_full() {
    let files = Files::new();
    let unknown = check_case(&files, "generate", &["--no-such-flag"], "");
    assert_eq!(unknown, None);
    let help = run_limited(bin("generate"), &["--help".to_string()], files.dir.path());
    assert_eq!(help.code, Some(0));
    assert!(help.stdout.contains("--temperature"), "{}", help.stdout);
    assert!(help.stdout.lines().count() > 10);
}
