//! The `phi_score` binary against the PyTorch reference (fixtures from tools/refgen/phi_ref.py).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use candle_core::{Device, Tensor};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/infinito-phi/tests/fixtures")
        .join(name)
}

fn phi_score(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_phi_score"))
        .args(args)
        .output()
        .unwrap()
}

fn cases() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixture("phi_small_cases.safetensors"), &Device::Cpu).unwrap()
}

fn json(out: &Output) -> serde_json::Map<String, serde_json::Value> {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every output array equals the expected `<group>.<name>` tensor within `tol`.
fn assert_outputs(
    got: &serde_json::Map<String, serde_json::Value>,
    group: &str,
    names: &[&str],
    tol: f64,
) {
    let cases = cases();
    assert_eq!(
        got.len(),
        names.len(),
        "keys: {:?}",
        got.keys().collect::<Vec<_>>()
    );
    for name in names {
        let want = cases[&format!("{group}.{name}")].to_vec1::<f32>().unwrap();
        let values = got[*name]
            .as_array()
            .unwrap_or_else(|| panic!("no array `{name}`"));
        assert_eq!(values.len(), want.len(), "{name}");
        for (g, w) in values.iter().zip(&want) {
            let g = g.as_f64().unwrap();
            assert!((g - *w as f64).abs() < tol, "{group}.{name}: {g} vs {w}");
        }
    }
}

const LEARNED: [&str; 5] = [
    "phi_estimate",
    "temporal_coherence",
    "integration_strength",
    "complexity",
    "attention_diversity",
];

fn path(name: &str) -> String {
    fixture(name).display().to_string()
}

#[test]
fn learned_phi_from_safetensors_weights_matches_pytorch() {
    let (w, i) = (
        path("phi_small_weights.safetensors"),
        path("phi_small_cases.safetensors"),
    );
    for t in ["t1", "t5", "t13"] {
        let prefix = format!("{t}.");
        let out = phi_score(&[
            "--weights",
            &w,
            "--input",
            &i,
            "--prefix",
            &prefix,
            "--json",
        ]);
        assert_outputs(&json(&out), &format!("{t}.eval"), &LEARNED, 1e-4);
    }
}

#[test]
fn learned_phi_from_a_pytorch_checkpoint_with_the_hybrid_prefix() {
    let (w, i) = (
        path("phi_small_weights.pt"),
        path("phi_small_cases.safetensors"),
    );
    let out = phi_score(&["--weights", &w, "--input", &i, "--prefix", "t13.", "--json"]);
    assert_outputs(&json(&out), "t13.eval", &LEARNED, 1e-4);
    let out = phi_score(&[
        "--weights",
        &w,
        "--input",
        &i,
        "--prefix",
        "t5.",
        "--json",
        "--complexity-norm",
        "per-sample",
    ]);
    assert_outputs(&json(&out), "t5.eval_per_sample", &LEARNED, 1e-4);
    let out = phi_score(&[
        "--weights",
        &w,
        "--input",
        &i,
        "--prefix",
        "t13.",
        "--json",
        "--attention-features",
        "entropy",
    ]);
    assert_outputs(&json(&out), "t13.eval_entropy", &LEARNED, 1e-4);
}

#[test]
fn statistical_measures_match_pytorch() {
    let i = path("phi_small_cases.safetensors");
    let names = [
        "phi",
        "temporal_consistency",
        "integration",
        "complexity",
        "attention_diversity",
        "head_coherence",
        "entropy_coherence",
    ];
    let out = phi_score(&[
        "--input",
        &i,
        "--prefix",
        "t13.",
        "--measure",
        "statistical",
        "--json",
    ]);
    assert_outputs(&json(&out), "t13.statistical", &names, 1e-5);
    let out = phi_score(&[
        "--input",
        &i,
        "--prefix",
        "t5.",
        "--measure",
        "statistical",
        "--perplexity",
        "120",
        "--json",
    ]);
    assert_outputs(&json(&out), "t5.statistical_ppl120", &names, 1e-5);
}

#[test]
fn without_weights_a_seeded_random_init_is_used_with_a_warning() {
    let i = path("phi_small_cases.safetensors");
    let run = || phi_score(&["--input", &i, "--prefix", "t13.", "--json", "--seed", "3"]);
    let (a, b) = (run(), run());
    assert!(String::from_utf8_lossy(&a.stderr).contains("warning: no --weights"));
    assert_eq!(
        json(&a),
        json(&b),
        "the seed fixes the random initialisation"
    );
    assert_eq!(json(&a)["phi_estimate"].as_array().unwrap().len(), 4);
    let table = phi_score(&["--input", &i, "--prefix", "t5."]);
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.starts_with("sample") && text.lines().count() == 5,
        "{text}"
    );
}

fn assert_input_error(out: &Output, needle: &str) {
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: ") && err.contains(needle), "{err}");
}

#[test]
fn bad_input_gives_one_line_and_exit_status_2() {
    let (w, i) = (
        path("phi_small_weights.safetensors"),
        path("phi_small_cases.safetensors"),
    );
    assert_input_error(
        &phi_score(&["--weights", &w, "--input", "/no/such/file.safetensors"]),
        "not found",
    );
    assert_input_error(
        &phi_score(&["--weights", &w, "--input", &i]),
        "no tensor `hidden_state`",
    );
    // The cases file holds parameter gradients under `t13.grad.`: found as the only candidate set.
    assert_input_error(
        &phi_score(&["--weights", &i, "--input", &i, "--prefix", "t5."]),
        "missing tensor `t13.grad.complexity_net.bn1.num_batches_tracked`",
    );
    assert_input_error(
        &phi_score(&[
            "--weights",
            &w,
            "--input",
            &w,
            "--prefix",
            "complexity_net.bn1.",
        ]),
        "no tensor",
    );
    assert_input_error(
        &phi_score(&["--input", &i, "--prefix", "t5.", "--device", "tpu"]),
        "--device tpu",
    );
    if !candle_core::utils::cuda_is_available() {
        assert_input_error(
            &phi_score(&["--input", &i, "--prefix", "t5.", "--device", "cuda"]),
            "CUDA",
        );
    }
}
