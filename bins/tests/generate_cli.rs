//! The `generate` binary: greedy decoding and the quality report against transformers
//! (fixtures from tools/refgen/generate_ref.py), trained hybrids in every checkpoint layout, and
//! one-line errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/infinito-model/tests/fixtures")
}

fn generate_in(dir: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_generate"));
    cmd.env("CANDLE_NUM_THREADS", "1").args(args);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    cmd.output().unwrap()
}

fn generate(args: &[&str]) -> Output {
    generate_in(None, args)
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    serde_json::from_value(v.clone()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    serde_json::from_value(v.clone()).unwrap()
}

/// The samples without their timings (which differ from run to run).
fn without_timing(report: &Value) -> Value {
    let mut samples = report["samples"].clone();
    for s in samples.as_array_mut().unwrap() {
        let s = s.as_object_mut().unwrap();
        for key in ["prefill_s", "decode_s", "tokens_per_s"] {
            assert!(s.remove(key).is_some(), "{key}");
        }
    }
    samples
}

fn assert_usage_error(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(needle), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[derive(serde::Deserialize)]
struct Case {
    model: String,
    prompt_text: Option<String>,
    prompt_ids: Vec<u32>,
    repetition_penalty: f32,
    new_ids: Vec<u32>,
    perplexity: f64,
    distinct_1: f64,
    distinct_2: f64,
    distinct_3: f64,
    repeated_ngram_rate: f64,
}

fn case(model: &str, text: &str, penalty: f32) -> Case {
    let path = fixtures().join("generate_reference.json");
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases: Vec<Case> = serde_json::from_value(all["cases"].clone()).unwrap();
    cases
        .into_iter()
        .find(|c| {
            c.model == model
                && c.prompt_text.as_deref() == Some(text)
                && c.repetition_penalty == penalty
        })
        .unwrap()
}

fn hf_args(model: &str) -> Vec<String> {
    let mut args = vec![
        "--checkpoint".to_string(),
        fixtures().join("tiny-gpt2").display().to_string(),
    ];
    if model == "lora" {
        args.push("--adapter".into());
        args.push(fixtures().join("tiny-lora").display().to_string());
    }
    args
}

#[test]
fn greedy_text_generation_matches_transformers() {
    for (model, text, penalty) in [
        ("lora", "The nature of consciousness", 1.3),
        ("lora", "In the beginning there was", 0.8),
        ("base", "In the beginning there was", 1.3),
    ] {
        let want = case(model, text, penalty);
        let penalty = penalty.to_string();
        let mut args = hf_args(model);
        args.extend(
            [
                "--prompt",
                text,
                "--greedy",
                "--repetition-penalty",
                &penalty,
                "--max-length",
                "24",
                "--stop-at-eos",
                "--json",
            ]
            .map(String::from),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let report = json(&generate(&args));
        assert_eq!(
            ids(&report["prompt_ids"]),
            want.prompt_ids,
            "{model} {text}"
        );
        let sample = &report["samples"][0];
        assert_eq!(
            ids(&sample["token_ids"]),
            want.new_ids,
            "{model} {text} {penalty}"
        );
        assert_eq!(report["model"], "gpt2");
        assert!(sample["text"].as_str().unwrap().starts_with(text));
    }
}

#[test]
fn report_measures_what_transformers_generates() {
    let mut args = hf_args("lora");
    args.extend(
        [
            "--report",
            "--greedy",
            "--repetition-penalty",
            "1",
            "--max-length",
            "24",
            "--stop-at-eos",
            "--json",
            "--compare",
        ]
        .map(String::from),
    );
    args.push(fixtures().join("tiny-gpt2").display().to_string());
    // The adapter belongs to the first checkpoint only: the second is the plain base model.
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let report = json(&generate(&args));
    let checkpoints = report["checkpoints"].as_array().unwrap();
    assert_eq!(checkpoints.len(), 2);
    for (checkpoint, model) in checkpoints.iter().zip(["lora", "base"]) {
        let prompts = checkpoint["prompts"].as_array().unwrap();
        assert!((5..=8).contains(&prompts.len()));
        for text in ["The nature of consciousness", "In the beginning there was"] {
            let want = case(model, text, 1.0);
            let got = prompts.iter().find(|p| p["prompt"] == text).unwrap();
            assert_eq!(
                ids(&got["samples"][0]["token_ids"]),
                want.new_ids,
                "{model}"
            );
            let q = &got["quality"];
            for (name, value) in [
                ("distinct_1", want.distinct_1),
                ("distinct_2", want.distinct_2),
                ("distinct_3", want.distinct_3),
                ("repeated_ngram_rate", want.repeated_ngram_rate),
            ] {
                let v = q[name].as_f64().unwrap();
                assert!((v - value).abs() < 1e-12, "{model} {name}: {v} vs {value}");
            }
            let ppl = q["perplexity"].as_f64().unwrap();
            assert!(
                (ppl / want.perplexity - 1.0).abs() < 5e-3,
                "{model}: perplexity {ppl} vs {}",
                want.perplexity
            );
            assert!(q["mean_phi"].is_null(), "GPT-2 has no PHI");
        }
        assert_eq!(checkpoint["overall"]["continuations"], prompts.len());
    }
}

#[test]
fn sampling_is_reproducible_for_a_seed() {
    let mut args = hf_args("lora");
    args.extend(
        [
            "--prompt",
            "Artificial intelligence can",
            "--max-length",
            "16",
            "--num-samples",
            "2",
            "--seed",
            "1234",
            "--json",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (a, b) = (json(&generate(&args)), json(&generate(&args)));
    assert_eq!(a["seed"], 1234);
    assert_eq!(without_timing(&a), without_timing(&b));
    let samples = a["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 2);
    assert_ne!(samples[0]["token_ids"], samples[1]["token_ids"]);
}

/// Trains the built-in hybrid for two steps into `<dir>/runs/train_base_more` (the default
/// location) and returns its last checkpoint.
fn trained_hybrid(dir: &Path) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_train_base_more"))
        .env("CANDLE_NUM_THREADS", "1")
        .current_dir(dir)
        .args([
            "--memory-slots",
            "8",
            "--lr",
            "1e-3",
            "--seq-len",
            "16",
            "--batch-size",
            "4",
            "--max-steps",
            "2",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("runs/train_base_more/checkpoints/last.safetensors")
}

#[test]
fn hybrid_checkpoints_generate_in_every_layout_with_phi() {
    let dir = tempfile::tempdir().unwrap();
    let last = trained_hybrid(dir.path());
    let sample = ["--max-length", "10", "--seed", "5", "--trace-phi", "--json"];
    let run = |checkpoint: &Path| {
        let mut args = vec!["--checkpoint", checkpoint.to_str().unwrap()];
        args.extend(sample);
        json(&generate(&args))
    };
    let from_file = run(&last);
    assert_eq!(from_file["model"], "hybrid");
    let tokens = ids(&from_file["samples"][0]["token_ids"]);
    assert_eq!(tokens.len(), 10);
    let phi = floats(&from_file["samples"][0]["phi"]);
    assert_eq!(phi.len(), 10);

    // A scheduler checkpoint directory: model.safetensors (+ an agent that is ignored).
    let sched = dir.path().join("ppo_infinito_scheduler_final");
    std::fs::create_dir(&sched).unwrap();
    std::fs::copy(&last, sched.join("model.safetensors")).unwrap();
    std::fs::write(sched.join("agent.safetensors"), b"not read").unwrap();
    assert_eq!(without_timing(&run(&sched)), without_timing(&from_file));

    // Without --checkpoint: the default train_base_more output (best, else last).
    let checkpoints = dir.path().join("runs/train_base_more/checkpoints");
    let expected = if checkpoints.join("best.safetensors").is_file() {
        run(&checkpoints.join("best.safetensors"))
    } else {
        from_file.clone()
    };
    let default = json(&generate_in(Some(dir.path()), &sample));
    assert_eq!(
        default["samples"][0]["token_ids"],
        expected["samples"][0]["token_ids"]
    );

    // The last step's PHI is the hybrid's PHI of the whole text, as `perplexity` reports it.
    let all: Vec<String> = ids(&from_file["prompt_ids"])
        .into_iter()
        .chain(tokens)
        .map(|t| t.to_string())
        .collect();
    let scored = Command::new(env!("CARGO_BIN_EXE_perplexity"))
        .env("CANDLE_NUM_THREADS", "1")
        .args([
            "--model",
            last.to_str().unwrap(),
            "--ids",
            &all.join(","),
            "--json",
        ])
        .output()
        .unwrap();
    let want = json(&scored)["phi"]["phi_estimate"][0].as_f64().unwrap();
    assert!((phi[9] - want).abs() < 1e-4, "{} vs {want}", phi[9]);

    // The report gives the hybrid's mean PHI.
    let report = json(&generate(&[
        "--checkpoint",
        last.to_str().unwrap(),
        "--report",
        "--max-length",
        "3",
        "--seed",
        "1",
        "--json",
    ]));
    let mean_phi = report["checkpoints"][0]["overall"]["mean_phi"]
        .as_f64()
        .unwrap();
    // It is the mean of every traced step of every continuation in the report.
    fn traced(v: &serde_json::Value, out: &mut Vec<f64>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("phi", serde_json::Value::Array(a)) => {
                            out.extend(a.iter().filter_map(|p| p.as_f64()))
                        }
                        _ => traced(x, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| traced(x, out)),
            _ => {}
        }
    }
    let mut steps = Vec::new();
    traced(&report["checkpoints"][0]["prompts"], &mut steps);
    assert!(!steps.is_empty(), "{report}");
    let want = steps.iter().sum::<f64>() / steps.len() as f64;
    assert!((mean_phi - want).abs() < 1e-4, "{mean_phi} vs {want}");
}

#[test]
fn bad_input_gives_one_line_errors_and_exit_status_2() {
    let empty = tempfile::tempdir().unwrap();
    assert_usage_error(&generate_in(Some(empty.path()), &[]), "train_base_more");
    let model = fixtures().join("tiny-gpt2").display().to_string();
    let adapter = fixtures().join("tiny-lora").display().to_string();
    let original = fixtures().join("original_hybrid.pt").display().to_string();
    let m = model.as_str();
    assert_usage_error(
        &generate(&["--checkpoint", "/nonexistent/ckpt"]),
        "/nonexistent/ckpt",
    );
    assert_usage_error(
        &generate(&["--checkpoint", m, "--temperature", "0"]),
        "temperature",
    );
    assert_usage_error(&generate(&["--checkpoint", m, "--top-p", "1.5"]), "top-p");
    assert_usage_error(
        &generate(&["--checkpoint", m, "--num-samples", "0"]),
        "--num-samples",
    );
    assert_usage_error(
        &generate(&["--checkpoint", m, "--trace-phi"]),
        "--trace-phi",
    );
    assert_usage_error(
        &generate(&["--checkpoint", &original, "--adapter", &adapter]),
        "--adapter",
    );
    assert_usage_error(
        &generate(&["--checkpoint", &original, "--prompt", "hello"]),
        "--prompt-ids",
    );
    assert_usage_error(
        &generate(&["--checkpoint", &original, "--prompt-ids", "1,2,99999"]),
        "outside the vocabulary",
    );
    assert_usage_error(
        &generate(&["--checkpoint", empty.path().to_str().unwrap()]),
        "model.safetensors",
    );
    let long: Vec<String> = (0..70).map(|i| (i + 1).to_string()).collect();
    assert_usage_error(
        &generate(&["--checkpoint", m, "--prompt-ids", &long.join(",")]),
        "context",
    );
}

#[test]
fn a_stable_baselines3_agent_is_not_a_language_model() {
    let zip = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/infinito-rl/tests/fixtures/sb3_run/best_model/best_model.zip");
    let out = generate(&["--checkpoint", zip.to_str().unwrap(), "--prompt", "Hi"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("stable-baselines3 agent"), "{err}");
    assert!(err.contains("has no language model"), "{err}");
    assert!(err.contains("train_base_more checkpoint"), "{err}");
}
