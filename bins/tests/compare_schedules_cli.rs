//! `compare_schedules` end to end on a tiny environment of the built-in model: the JSON object,
//! the files, and bad input.

use std::process::{Command, Output};

fn compare(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_compare_schedules"))
        .env("CANDLE_NUM_THREADS", "1")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn json_summary_files_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("env.toml");
    std::fs::write(
        &config,
        "inner_steps = 1\nmax_steps = 8\nbatch_size = 2\n[model]\nseq_len = 32\nmemory_slots = 8\nlr = 1e-3\n",
    )
    .unwrap();
    let out_dir = dir.path().join("cmp");
    let out = compare(&[
        "--config",
        config.to_str().unwrap(),
        "--policies",
        "text,phi,band-rule",
        "--seeds",
        "2",
        "--decisions",
        "3",
        "--eval-batches",
        "2",
        "--trace-batches",
        "1",
        "--sample-tokens",
        "4",
        "--json",
        "--output",
        out_dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let policies = summary["policies"].as_array().unwrap();
    let names: Vec<&str> = policies
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["text", "phi", "band-rule"]);
    for p in policies {
        assert_eq!(p["runs"], 2);
        for key in [
            "val_ppl",
            "val_lm_loss",
            "phi_mean",
            "phi_in_band",
            "reward",
        ] {
            let ci = p[key]["ci95"].as_array().unwrap();
            let mean = p[key]["mean"].as_f64().unwrap();
            assert!(ci[0].as_f64().unwrap() <= mean && mean <= ci[1].as_f64().unwrap());
        }
        let shares: f64 = ["TEXT", "PHI", "MIXED"]
            .iter()
            .map(|a| p["actions"][a].as_f64().unwrap())
            .sum();
        assert!((shares - 1.0).abs() < 1e-9);
        for q in ["distinct_2", "repeated_3gram_rate", "continuation_ppl"] {
            assert!(p["quality"][q]["mean"].is_number(), "{q}");
        }
    }
    assert_eq!(policies[0]["actions"]["TEXT"], 1.0);
    assert_eq!(policies[1]["actions"]["PHI"], 1.0);
    assert!(summary["paired"].as_array().unwrap().len() >= 2);
    for file in ["summary.json", "runs.csv", "trace.csv", "report.md"] {
        assert!(out_dir.join(file).is_file(), "{file}");
    }
    for png in ["val_ppl.png", "phi.png"] {
        assert_eq!(&std::fs::read(out_dir.join(png)).unwrap()[..4], b"\x89PNG");
    }
    let runs = std::fs::read_to_string(out_dir.join("runs.csv")).unwrap();
    assert_eq!(runs.lines().count(), 1 + 3 * 2);
    let trace = std::fs::read_to_string(out_dir.join("trace.csv")).unwrap();
    assert_eq!(trace.lines().count(), 1 + 3 * 2 * 4);
}

#[test]
fn the_agent_policy_needs_an_agent() {
    let out = compare(&["--policies", "text,agent"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--agent"), "{stderr}");
    let out = compare(&["--policies", "always"]);
    assert_eq!(out.status.code(), Some(2));
}
