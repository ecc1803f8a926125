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

/// The reference of tools/refgen/gaussian_ref.py for the hidden states of
/// gaussian_hidden.safetensors, channel mode `mode`.
fn gaussian_reference(mode: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("gaussian_ref.json")).unwrap();
    let all: serde_json::Value = serde_json::from_str(&text).unwrap();
    all["hidden"]["modes"][mode].clone()
}

fn number(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap()
}

fn parts(v: &serde_json::Value) -> Vec<Vec<u64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_u64().unwrap())
                .collect()
        })
        .collect()
}

#[test]
fn gaussian_measures_match_the_numpy_reference() {
    let i = path("gaussian_hidden.safetensors");
    for (mode, channels) in [("pca", "3"), ("groups", "5"), ("heads", "4")] {
        let out = phi_score(&[
            "--input",
            &i,
            "--measure",
            "gaussian",
            "--channels",
            channels,
            "--channel-mode",
            mode,
            "--phi-g",
            "--json",
        ]);
        let got = json(&out);
        let r = gaussian_reference(mode);
        let n = r["channels"].as_u64().unwrap();
        assert_eq!(got["channels"].as_u64(), Some(n));
        assert_eq!(got["pairs"], r["pairs"]);
        assert_eq!(got["channel_mode"], mode);
        for key in ["entropy", "multi_information", "mutual_information"] {
            let (g, w) = (number(&got[key]), number(&r[key]));
            assert!((g - w).abs() < 1e-8, "{mode} {key}: {g} vs {w}");
        }
        // The reference MIB: the bipartition with the smallest Phi_SI (its part without the
        // last channel first).
        let best = r["bipartitions"]
            .as_array()
            .unwrap()
            .iter()
            .min_by(|a, b| number(&a["phi_si"]).total_cmp(&number(&b["phi_si"])))
            .unwrap();
        let part: Vec<u64> = best["part"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .collect();
        let rest: Vec<u64> = (0..n).filter(|c| !part.contains(c)).collect();
        let first_part = part.clone();
        let mut want = vec![part, rest];
        want.sort();
        let got_parts = parts(&got["mib"]["parts"]);
        assert_eq!(got_parts, want, "{mode}: MIB");
        assert_eq!(got["mib"]["search"], "exhaustive");
        assert_eq!(got["mib"]["measure"], "phi_si");
        for key in ["phi_si", "phi_mi", "phi_star", "phi_g"] {
            let (g, w) = (number(&got[key]), number(&best[key]));
            assert!((g - w).abs() < 1e-7, "{mode} {key}: {g} vs {w}");
        }
        // Reported in the order of the (sorted) parts; the reference lists part, then rest.
        let entropies = got["part_entropies"].as_array().unwrap();
        let reference = best["part_entropies"].as_array().unwrap();
        for (k, p) in got_parts.iter().enumerate() {
            let w = number(&reference[usize::from(*p != first_part)]);
            let g = number(&entropies[k]);
            assert!((g - w).abs() < 1e-8, "{mode} part entropy: {g} vs {w}");
        }
    }
}

#[test]
fn gaussian_measures_print_a_table_and_honour_the_search_options() {
    let i = path("gaussian_hidden.safetensors");
    let out = phi_score(&["--input", &i, "--measure", "gaussian", "--channels", "3"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("3 channels (pca), lag 1, 46 lagged pairs"),
        "{text}"
    );
    for row in ["phi_si", "phi_mi", "phi_star", "mib", "part_entropies"] {
        assert!(text.lines().any(|l| l.starts_with(row)), "{row}: {text}");
    }
    assert!(!text.contains("phi_g"), "Phi_G only with --phi-g: {text}");
    // Queyranne finds the same MIB; a lag of 2 has fewer pairs; full shrinkage leaves nothing.
    let base = [
        "--input",
        &i,
        "--measure",
        "gaussian",
        "--channels",
        "5",
        "--json",
    ];
    let exhaustive = json(&phi_score(&base));
    let queyranne = json(&phi_score(
        &[&base[..], &["--search", "queyranne"]].concat(),
    ));
    assert_eq!(queyranne["mib"]["search"], "queyranne");
    assert_eq!(queyranne["mib"]["parts"], exhaustive["mib"]["parts"]);
    let lag2 = json(&phi_score(&[&base[..], &["--lag", "2"]].concat()));
    assert_eq!(lag2["pairs"].as_u64(), Some(2 * 22));
    let shrunk = json(&phi_score(&[&base[..], &["--shrinkage", "1"]].concat()));
    assert!(number(&shrunk["phi_si"]).abs() < 1e-12 && number(&shrunk["shrinkage"]) == 1.0);
    let lw = json(&phi_score(
        &[&base[..], &["--shrinkage", "ledoit-wolf"]].concat(),
    ));
    let intensity = number(&lw["shrinkage"]);
    assert!(intensity > 0.0 && intensity < 1.0, "{intensity}");
    let normalised = json(&phi_score(&[&base[..], &["--normalise"]].concat()));
    let value = number(&normalised["mib"]["value"]);
    let h = normalised["part_entropies"]
        .as_array()
        .unwrap()
        .iter()
        .map(number)
        .fold(f64::INFINITY, f64::min);
    assert!((number(&normalised["mib"]["normalised"]) - value / h).abs() < 1e-12);
}

#[test]
fn gaussian_bad_input_gives_one_line_and_exit_status_2() {
    let i = path("gaussian_hidden.safetensors");
    let run = |extra: &[&str]| {
        phi_score(&[&["--input", i.as_str(), "--measure", "gaussian"][..], extra].concat())
    };
    assert_input_error(&run(&["--channels", "1"]), "--channels 1");
    assert_input_error(&run(&["--channels", "13"]), "--channels 13");
    assert_input_error(&run(&["--lag", "24"]), "--lag 24");
    assert_input_error(
        &run(&["--channels", "5", "--channel-mode", "heads"]),
        "must divide the hidden size 12",
    );
    assert_input_error(
        &run(&["--search", "queyranne", "--normalise"]),
        "--normalise",
    );
    assert_eq!(run(&["--shrinkage", "2"]).status.code(), Some(2));
    // Constant hidden states: every channel is constant.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("constant.safetensors");
    let hidden = Tensor::ones((2, 10, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
    candle_core::safetensors::save(
        &HashMap::from([("hidden_state".to_string(), hidden)]),
        &file,
    )
    .unwrap();
    let f = file.display().to_string();
    let out = phi_score(&[
        "--input",
        &f,
        "--measure",
        "gaussian",
        "--channels",
        "2",
        "--channel-mode",
        "groups",
    ]);
    assert_input_error(&out, "singular covariance");
}
