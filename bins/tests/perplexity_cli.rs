//! The `perplexity` binary against transformers/peft (fixtures from tools/refgen/gpt2_ref.py).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/infinito-model/tests/fixtures")
}

fn perplexity(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_perplexity"))
        .env("CANDLE_NUM_THREADS", "1")
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[derive(serde::Deserialize)]
struct Expected {
    text: String,
    token_ids: Vec<u32>,
    logprobs: Vec<f64>,
}

fn expected() -> Expected {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("perplexity_text.json")).unwrap())
        .unwrap()
}

fn model_args() -> (String, String) {
    let f = fixtures();
    (
        f.join("tiny-gpt2").display().to_string(),
        f.join("tiny-lora").display().to_string(),
    )
}

fn assert_matches(report: &serde_json::Value, e: &Expected) {
    let ids: Vec<u32> = serde_json::from_value(report["token_ids"].clone()).unwrap();
    assert_eq!(ids, e.token_ids);
    let got = floats(&report["logprobs"]);
    assert_eq!(got.len(), e.logprobs.len());
    for (i, (g, x)) in got.iter().zip(&e.logprobs).enumerate() {
        assert!((g - x).abs() < 1e-4, "logprob {i}: {g} vs {x}");
    }
    let mean_nll = -e.logprobs.iter().sum::<f64>() / e.logprobs.len() as f64;
    assert!((report["mean_nll"].as_f64().unwrap() - mean_nll).abs() < 1e-4);
    assert!((report["perplexity"].as_f64().unwrap() / mean_nll.exp() - 1.0).abs() < 1e-4);
}

#[test]
fn text_with_adapter_matches_peft() {
    let e = expected();
    let (model, adapter) = model_args();
    let out = perplexity(&[
        "--model",
        &model,
        "--adapter",
        &adapter,
        "--text",
        &e.text,
        "--json",
    ]);
    assert_matches(&json(&out), &e);
}

#[test]
fn ids_with_adapter_match_peft() {
    let e = expected();
    let (model, adapter) = model_args();
    let ids = e
        .token_ids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let out = perplexity(&[
        "--model",
        &model,
        "--adapter",
        &adapter,
        "--ids",
        &ids,
        "--json",
    ]);
    assert_matches(&json(&out), &e);
}

#[test]
fn sequences_longer_than_the_context_use_a_sliding_window() {
    let (model, _) = model_args();
    let ids: Vec<String> = (0..100u32)
        .map(|i| (i * 7919 % 50257).to_string())
        .collect();
    let long = json(&perplexity(&[
        "--model",
        &model,
        "--ids",
        &ids.join(","),
        "--json",
    ]));
    let head = json(&perplexity(&[
        "--model",
        &model,
        "--ids",
        &ids[..64].join(","),
        "--json",
    ]));
    let (long, head) = (floats(&long["logprobs"]), floats(&head["logprobs"]));
    assert_eq!(long.len(), 99);
    assert_eq!(
        &long[..63],
        &head[..],
        "the first window is scored exactly as on its own"
    );
}

#[test]
fn bad_input_gives_one_line_errors_and_exit_status_2() {
    let (model, _) = model_args();
    let out = perplexity(&["--model", "/nonexistent/model", "--ids", "1,2"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/model") && err.lines().count() == 1,
        "{err}"
    );

    let out = perplexity(&["--model", &model, "--ids", "1,99999999"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside the vocabulary"));

    let out = perplexity(&["--model", &model, "--ids", "1,2", "--device", "tpu"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--device tpu"));
}

#[test]
fn an_original_checkpoint_is_scored_with_the_hybrid_and_reports_phi() {
    let f = fixtures();
    let expected = infinito_checkpoint::load_tensors(
        &f.join("original_hybrid_expected.safetensors"),
        None,
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let ids: Vec<Vec<i64>> = expected["input_ids"].to_vec2().unwrap();
    let ids = ids[0]
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let model = f.join("original_hybrid.pt");
    let report = json(&perplexity(&[
        "--model",
        model.to_str().unwrap(),
        "--ids",
        &ids,
        "--json",
    ]));
    let want: Vec<Vec<f32>> = expected["token_logprobs"].to_vec2().unwrap();
    for (g, w) in floats(&report["logprobs"]).iter().zip(&want[0]) {
        assert!((g - *w as f64).abs() < 1e-4, "{g} vs {w}");
    }
    for name in [
        "phi_estimate",
        "temporal_coherence",
        "integration_strength",
        "complexity",
        "attention_diversity",
    ] {
        let got = floats(&report["phi"][name]);
        let want: Vec<f32> = expected[&format!("phi.{name}")].to_vec1().unwrap();
        assert_eq!(got.len(), 1);
        assert!(
            (got[0] - want[0] as f64).abs() < 1e-4,
            "{name}: {} vs {}",
            got[0],
            want[0]
        );
    }
}
