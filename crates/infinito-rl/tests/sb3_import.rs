//! Importing stable-baselines3 PPO agents: the fixtures are SB3 `.zip` files made by
//! `tools/refgen/sb3_ref.py`, with SB3's own action probabilities, values and deterministic
//! actions for a set of observations.

use infinito_rl::{ConfigOverrides, Ppo, Schedule};
use infinito_testutil::fixture;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture!("sb3_expected.json")).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn imported_agents_compute_what_sb3_computes() {
    let all = expected();
    for name in ["sb3_small", "sb3_default"] {
        let import = Ppo::from_sb3_zip(
            &fixture!(&format!("{name}.zip")),
            &ConfigOverrides::default(),
        )
        .unwrap();
        let agent = &import.agent;
        let exp = &all[name];
        for (i, obs) in exp["observations"].as_array().unwrap().iter().enumerate() {
            let obs = floats(obs);
            let probs = agent.action_probs(&obs).unwrap();
            for (p, e) in probs.iter().zip(floats(&exp["probs"][i])) {
                assert!(
                    (p - e).abs() < 1e-5,
                    "{name} obs {i}: probs {probs:?} vs {e}"
                );
            }
            let value = agent.value(&obs).unwrap();
            let e = exp["values"][i].as_f64().unwrap() as f32;
            assert!(
                (value - e).abs() < 1e-5 * (1.0 + e.abs()),
                "{name} obs {i}: value {value} vs {e}"
            );
            assert_eq!(
                agent.predict(&obs, true).unwrap() as u64,
                exp["deterministic_actions"][i].as_u64().unwrap(),
                "{name} obs {i}"
            );
        }
        let hp = &exp["hyper_parameters"];
        let c = agent.config();
        let f = |k: &str| hp[k].as_f64().unwrap();
        assert_eq!(c.learning_rate.value(1.0), f("learning_rate"), "{name}");
        assert!((c.clip_range.value(1.0) - f("clip_range_start")).abs() < 1e-12);
        assert!((c.clip_range.value(0.5) - f("clip_range_mid")).abs() < 1e-12);
        assert_eq!(
            c.clip_range_vf.map(|s| s.value(1.0)),
            hp["clip_range_vf"].as_f64()
        );
        assert_eq!(c.n_steps as u64, hp["n_steps"].as_u64().unwrap());
        assert_eq!(c.batch_size as u64, hp["batch_size"].as_u64().unwrap());
        assert_eq!(c.n_epochs as u64, hp["n_epochs"].as_u64().unwrap());
        assert_eq!(
            (
                c.gamma,
                c.gae_lambda,
                c.ent_coef,
                c.vf_coef,
                c.max_grad_norm
            ),
            (
                f("gamma"),
                f("gae_lambda"),
                f("ent_coef"),
                f("vf_coef"),
                f("max_grad_norm")
            )
        );
        assert_eq!(c.target_kl, None);
        assert_eq!(agent.num_timesteps(), hp["num_timesteps"].as_u64().unwrap());
        assert_eq!(agent.n_updates(), hp["n_updates"].as_u64().unwrap());
        assert_eq!(agent.seed(), hp["seed"].as_u64().unwrap());
        // Only the optimizer state is missing, and the notes say so.
        assert_eq!(import.notes.len(), 1, "{:?}", import.notes);
        assert!(import.notes[0].contains("Adam"));
    }
}

#[test]
fn overrides_replace_the_imported_hyper_parameters() {
    let overrides = ConfigOverrides {
        learning_rate: Some(Schedule::Constant(1e-4)),
        clip_range: Some(Schedule::Constant(0.15)),
        ent_coef: Some(0.02),
        max_grad_norm: Some(0.3),
        n_steps: None,
    };
    let agent = Ppo::from_sb3_zip(&fixture!("sb3_default.zip"), &overrides)
        .unwrap()
        .agent;
    let c = agent.config();
    assert_eq!(c.learning_rate, Schedule::Constant(1e-4));
    assert_eq!(c.clip_range, Schedule::Constant(0.15));
    assert_eq!((c.ent_coef, c.max_grad_norm), (0.02, 0.3));
    assert_eq!(agent.config().n_steps, 2048);
}

/// The members of a zip archive, in order.
fn members(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (entry.name().unwrap().to_string(), bytes)
        })
        .collect()
}

fn write_zip(path: &Path, members: &[(String, Vec<u8>)]) {
    let mut writer = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in members {
        writer
            .start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap();
}

fn import_error(path: &Path) -> String {
    let err = Ppo::from_sb3_zip(path, &ConfigOverrides::default()).unwrap_err();
    assert!(err.is_usage(), "{err}");
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "one line: {msg}");
    assert!(
        msg.contains(&path.display().to_string()),
        "names the file: {msg}"
    );
    msg
}

#[test]
fn unusable_files_give_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.zip");
    assert!(import_error(&missing).contains("not found"));

    let text = dir.path().join("agent.zip");
    std::fs::write(&text, "not an archive").unwrap();
    assert!(import_error(&text).contains("not a zip archive"));

    let small = members(&fixture!("sb3_small.zip"));
    let without_policy: Vec<_> = small
        .iter()
        .filter(|(n, _)| n != "policy.pth")
        .cloned()
        .collect();
    let path = dir.path().join("no_policy.zip");
    write_zip(&path, &without_policy);
    assert!(import_error(&path).contains("no policy.pth"));

    // The small agent's data with the default agent's 128-wide weights.
    let default_policy = members(&fixture!("sb3_default.zip"))
        .into_iter()
        .find(|(n, _)| n == "policy.pth")
        .unwrap();
    let mixed: Vec<_> = small
        .iter()
        .map(|(n, b)| {
            if n == "policy.pth" {
                default_policy.clone()
            } else {
                (n.clone(), b.clone())
            }
        })
        .collect();
    let path = dir.path().join("mixed.zip");
    write_zip(&path, &mixed);
    let msg = import_error(&path);
    assert!(
        msg.contains("net_arch pi [16, 16]") && msg.contains("pi [128, 128]"),
        "{msg}"
    );

    // An observation space that does not match the first layer.
    let reshaped: Vec<_> = small
        .iter()
        .map(|(n, b)| {
            if n == "data" {
                let mut data: Value = serde_json::from_slice(b).unwrap();
                data["observation_space"]["_shape"] = serde_json::json!([4]);
                (n.clone(), serde_json::to_vec(&data).unwrap())
            } else {
                (n.clone(), b.clone())
            }
        })
        .collect();
    let path = dir.path().join("reshaped.zip");
    write_zip(&path, &reshaped);
    let msg = import_error(&path);
    assert!(
        msg.contains("observations of length 6") && msg.contains("[4]"),
        "{msg}"
    );
}
