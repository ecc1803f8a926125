//! Minibatch updates against stable-baselines3 (`tools/refgen/sb3_ref.py`, `ppo_update_ref.json`):
//! SB3's own policy computed the loss terms, torch's autograd the gradients, `clip_grad_norm_`
//! and `torch.optim.Adam` the new weights.

use super::Workspace;
use crate::ppo::agent::Ppo;
use crate::ppo::config::{NetArch, PpoConfig, Schedule};
use serde_json::Value;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ppo_update_ref.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|x| match x {
            Value::Array(_) => floats(x),
            _ => vec![x.as_f64().unwrap() as f32],
        })
        .collect()
}

/// The flat vector of `named` (a JSON map from SB3 names to flat values) in the agent's layout.
fn flat(agent: &Ppo, named: &Value) -> Vec<f32> {
    let mut out = vec![0.0; agent.net.params.len()];
    for spec in &agent.net.specs {
        out[spec.range()].copy_from_slice(&floats(&named[spec.name.as_str()]));
    }
    out
}

fn assert_close(what: &str, got: &[f32], expected: &[f32], tol: f32) {
    assert_eq!(got.len(), expected.len(), "{what}");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!(
            (g - e).abs() <= tol * (1.0 + e.abs()),
            "{what}[{i}]: {g} vs SB3 {e}"
        );
    }
}

#[test]
fn minibatch_updates_match_sb3_and_torch() {
    let fx = fixture();
    let f = |k: &str| fx[k].as_f64().unwrap();
    for case in fx["cases"].as_array().unwrap() {
        let clip_range_vf = case["clip_range_vf"].as_f64();
        let config = PpoConfig {
            learning_rate: Schedule::Constant(f("learning_rate")),
            clip_range: Schedule::Constant(f("clip_range")),
            clip_range_vf: clip_range_vf.map(Schedule::Constant),
            ent_coef: f("ent_coef"),
            vf_coef: f("vf_coef"),
            max_grad_norm: f("max_grad_norm"),
            net_arch: NetArch {
                pi: vec![16, 16],
                vf: vec![16, 16],
            },
            ..PpoConfig::default()
        };
        let mut agent = Ppo::with_zero_weights(6, 3, config, 0).unwrap();
        agent.net.params = flat(&agent, &case["initial"]);
        let coefs = agent.loss_coefficients();
        assert_eq!(coefs.clip_range_vf, clip_range_vf);
        for (k, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            let what = format!("clip_range_vf {clip_range_vf:?} step {k}");
            let batch = &step["batch"];
            let mut work = Workspace {
                observations: floats(&batch["observations"]),
                actions: batch["actions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_u64().unwrap() as usize)
                    .collect(),
                old_log_probs: floats(&batch["old_log_prob"]),
                old_values: floats(&batch["old_values"]),
                advantages: floats(&batch["advantages"]),
                returns: floats(&batch["returns"]),
                ..Workspace::default()
            };
            let (terms, stepped) = agent.minibatch_step(&mut work, coefs, f("learning_rate"), None);
            assert!(stepped);
            let stats = &step["stats"];
            let s = |key: &str| stats[key].as_f64().unwrap() as f32;
            assert_close(
                &format!("{what} loss terms"),
                &[
                    terms.policy_loss,
                    terms.value_loss,
                    terms.entropy_loss,
                    terms.loss,
                    terms.approx_kl,
                    terms.clip_fraction,
                ],
                &[
                    s("policy_loss"),
                    s("value_loss"),
                    s("entropy_loss"),
                    s("loss"),
                    s("approx_kl"),
                    s("clip_fraction"),
                ],
                1e-5,
            );
            // The stored gradients are torch's before clipping; ours are clipped in place.
            let grads = flat(&agent, &step["grads"]);
            let norm = grads.iter().map(|g| g * g).sum::<f32>().sqrt();
            assert!((norm - step["grad_norm"].as_f64().unwrap() as f32).abs() < 1e-4 * norm);
            let scale = (f("max_grad_norm") as f32 / (norm + 1e-6)).min(1.0);
            let clipped: Vec<f32> = grads.iter().map(|g| g * scale).collect();
            assert_close(&format!("{what} gradients"), &work.grads, &clipped, 1e-5);
            assert_close(
                &format!("{what} weights after Adam"),
                &agent.net.params,
                &flat(&agent, &step["after"]),
                1e-6,
            );
        }
        assert_eq!(agent.adam.step, 2);
    }
}
