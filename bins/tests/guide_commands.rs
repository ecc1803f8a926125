//! Runs every command of the user guides (`docs/guide.md`, `docs/guia.md`) in order, as
//! written, with flags appended that shrink the work (the tools let a later flag override an
//! earlier one), so that the guides cannot drift from the tools.

use std::path::{Path, PathBuf};
use std::process::Command;

use infinito_hub::testing::{fixture_repos, FakeHub};

/// Flags appended to each tool's commands: tiny runs of the built-in model.
fn shrink(tool: &str) -> &'static [&'static str] {
    match tool {
        "train_base_more" => &[
            "--epochs",
            "1",
            "--seq-len",
            "16",
            "--batch-size",
            "16",
            "--memory-slots",
            "8",
        ],
        "train_phi_text_scheduler" => &[
            "--timesteps",
            "32",
            "--n-steps",
            "32",
            "--ppo-batch-size",
            "16",
            "--n-epochs",
            "1",
            "--inner-steps",
            "1",
            "--max-steps",
            "8",
            "--batch-size",
            "2",
            "--save-freq",
            "16",
            "--eval-freq",
            "32",
            "--n-eval-episodes",
            "1",
            "--quiet",
        ],
        "continue_training_rl" => &[
            "--timesteps",
            "32",
            "--save-freq",
            "16",
            "--eval-freq",
            "32",
            "--n-eval-episodes",
            "1",
            "--quiet",
        ],
        "generate" => &["--max-length", "4"],
        "compare_schedules" => &[
            "--seeds",
            "1",
            "--decisions",
            "1",
            "--policies",
            "text,band-rule",
            "--inner-steps",
            "1",
            "--batch-size",
            "2",
            "--eval-batches",
            "1",
            "--trace-batches",
            "1",
            "--sample-tokens",
            "2",
        ],
        _ => &[],
    }
}

/// The path of a tool built for these tests.
fn binary(tool: &str) -> Option<&'static str> {
    Some(match tool {
        "train_base_more" => env!("CARGO_BIN_EXE_train_base_more"),
        "train_phi_text_scheduler" => env!("CARGO_BIN_EXE_train_phi_text_scheduler"),
        "continue_training_rl" => env!("CARGO_BIN_EXE_continue_training_rl"),
        "check_progress" => env!("CARGO_BIN_EXE_check_progress"),
        "analyze_rl" => env!("CARGO_BIN_EXE_analyze_rl"),
        "generate" => env!("CARGO_BIN_EXE_generate"),
        "perplexity" => env!("CARGO_BIN_EXE_perplexity"),
        "check_cuda" => env!("CARGO_BIN_EXE_check_cuda"),
        "phi_score" => env!("CARGO_BIN_EXE_phi_score"),
        "compare_schedules" => env!("CARGO_BIN_EXE_compare_schedules"),
        _ => return None,
    })
}

/// The command lines of the ```bash blocks (continuation lines joined, comments dropped).
fn commands(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_bash = false;
    let mut pending = String::new();
    for line in markdown.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_bash = trimmed == "```bash";
            continue;
        }
        if !in_bash || trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        let (text, continues) = match trimmed.strip_suffix('\\') {
            Some(text) => (text, true),
            None => (trimmed, false),
        };
        pending.push_str(text.trim());
        pending.push(' ');
        if !continues {
            out.push(pending.trim().to_string());
            pending.clear();
        }
    }
    out
}

/// Splits a command line into words, honouring double quotes.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    out.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(word);
    }
    out
}

/// A local server impersonating the hub for the guides' `--model gpt2 --data wikitext-2-raw-v1`:
/// a tiny GPT-2 with GPT-2's context and its own small tokenizer as `gpt2`, and small WikiText
/// parquet shards (fixtures from tools/refgen/hub_ref.py).
fn fake_hub() -> FakeHub {
    let repos = fixture_repos()
        .into_iter()
        .filter_map(|mut repo| match repo.id.as_str() {
            "infinito-test/tiny-gpt2-bpe" => {
                repo.id = "gpt2".to_string();
                Some(repo)
            }
            "Salesforce/wikitext" => Some(repo),
            _ => None,
        })
        .collect();
    FakeHub::start(repos)
}

/// Points a command at `hub` with a cache in `work`, whatever the caller's hub settings.
fn use_hub(cmd: &mut Command, hub: &FakeHub, work: &Path) {
    cmd.env("HF_ENDPOINT", hub.endpoint())
        .env("HF_HUB_CACHE", work.join("hub-cache"))
        .env("HOME", work);
    for var in [
        "HF_HUB_OFFLINE",
        "HF_TOKEN",
        "HF_HOME",
        "HUGGINGFACE_HUB_CACHE",
    ] {
        cmd.env_remove(var);
    }
}

fn run_guide(name: &str) {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    let guide = std::fs::read_to_string(docs.join(name)).unwrap();
    let work = tempfile::tempdir().unwrap();
    let hub = fake_hub();
    let examples = work.path().join("docs/examples");
    std::fs::create_dir_all(&examples).unwrap();
    for entry in std::fs::read_dir(docs.join("examples")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), examples.join(entry.file_name())).unwrap();
    }
    let lines = commands(&guide);
    assert!(
        lines.len() >= 10,
        "{name}: only {} commands found",
        lines.len()
    );
    for line in lines {
        let args = words(&line);
        let tool = &args[0];
        let bin: PathBuf = binary(tool)
            .unwrap_or_else(|| panic!("{name}: `{line}` does not start with a tool of ours"))
            .into();
        let mut cmd = Command::new(bin);
        use_hub(&mut cmd, &hub, work.path());
        let out = cmd
            .current_dir(work.path())
            .env("CANDLE_NUM_THREADS", "1")
            .args(&args[1..])
            .args(shrink(tool))
            .output()
            .unwrap();
        let code = out.status.code();
        let ok = code == Some(0) || (tool == "check_cuda" && code == Some(3));
        assert!(
            ok,
            "{name}: `{line}` exited with {code:?}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn english_guide_commands_work() {
    run_guide("guide.md");
}

#[test]
fn spanish_guide_commands_work() {
    run_guide("guia.md");
}

#[test]
fn the_guides_show_the_same_commands() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    let read = |n: &str| commands(&std::fs::read_to_string(docs.join(n)).unwrap());
    assert_eq!(read("guide.md"), read("guia.md"));
}

#[test]
fn words_and_commands_are_parsed_like_a_shell() {
    assert_eq!(
        words(r#"generate --prompt "The nature of consciousness" --greedy"#),
        vec![
            "generate",
            "--prompt",
            "The nature of consciousness",
            "--greedy"
        ]
    );
    let md =
        "text\n```bash\n# comment\ntool --a 1 \\\n  --b 2\n\nother\n```\n```text\nnot this\n```\n";
    assert_eq!(commands(md), vec!["tool --a 1 --b 2", "other"]);
}
