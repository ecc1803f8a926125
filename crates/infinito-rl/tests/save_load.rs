//! Saving and loading agents: the file holds SB3's tensor names, and a loaded agent continues
//! exactly as the one that was saved.

mod common;

use common::small_config;
use infinito_rl::{Callback, CartPole, Ppo, PpoConfig, Result, UpdateStats};
use std::collections::HashMap;

#[derive(Default)]
struct Updates(Vec<UpdateStats>);

impl Callback for Updates {
    fn on_update(&mut self, _agent: &Ppo, stats: &UpdateStats) -> Result<()> {
        self.0.push(stats.clone());
        Ok(())
    }
}

const PROBES: [[f32; 4]; 3] = [
    [0.01, -0.02, 0.03, 0.04],
    [0.5, 0.3, -0.1, -0.6],
    [-1.0, 0.2, 0.15, 1.2],
];

fn outputs(agent: &Ppo) -> Vec<(Vec<f32>, f32)> {
    PROBES
        .iter()
        .map(|o| (agent.action_probs(o).unwrap(), agent.value(o).unwrap()))
        .collect()
}

#[test]
fn a_loaded_agent_continues_identically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.safetensors");
    let mut agent = Ppo::new(4, 2, small_config(), 3).unwrap();
    agent.learn(&mut CartPole::new(0), 128, &mut ()).unwrap();
    agent.save(&path).unwrap();

    let mut loaded = Ppo::load(&path).unwrap();
    assert_eq!(outputs(&loaded), outputs(&agent));
    assert_eq!(loaded.num_timesteps(), 128);
    assert_eq!(loaded.n_updates(), agent.n_updates());
    assert_eq!(loaded.config(), agent.config());

    // Both continue from a fresh episode in identical environments.
    agent.reset_episode();
    let (mut a, mut b) = (Updates::default(), Updates::default());
    agent.learn(&mut CartPole::new(9), 256, &mut a).unwrap();
    loaded.learn(&mut CartPole::new(9), 256, &mut b).unwrap();
    assert_eq!(a.0.len(), 2);
    assert_eq!(
        a.0, b.0,
        "same losses: same weights, optimizer moments and generator"
    );
    assert_eq!(outputs(&loaded), outputs(&agent));
    assert_eq!(
        agent.predict(&PROBES[1], false).unwrap(),
        loaded.predict(&PROBES[1], false).unwrap()
    );
}

#[test]
fn the_file_uses_sb3_names_and_holds_adam_moments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.safetensors");
    let agent = Ppo::new(4, 2, PpoConfig::default(), 0).unwrap();
    agent.save(&path).unwrap();
    let tensors: HashMap<_, _> =
        infinito_checkpoint::load_tensors(&path, None, &candle_core::Device::Cpu).unwrap();
    assert_eq!(
        tensors["mlp_extractor.policy_net.0.weight"].dims(),
        &[128, 4]
    );
    assert_eq!(
        tensors["mlp_extractor.value_net.2.weight"].dims(),
        &[128, 128]
    );
    assert_eq!(tensors["action_net.weight"].dims(), &[2, 128]);
    assert_eq!(tensors["value_net.bias"].dims(), &[1]);
    assert_eq!(tensors["adam.exp_avg_sq.action_net.bias"].dims(), &[2]);
    assert_eq!(tensors.len(), 12 * 3);
    let meta = infinito_checkpoint::read_metadata(&path).unwrap().unwrap();
    assert_eq!(meta["format"], "infinito-ppo");
    assert_eq!(meta["obs_dim"], 4);
    assert_eq!(meta["config"]["n_steps"], 2048);
}

#[test]
fn files_that_are_not_agents_are_rejected_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.safetensors");
    let msg = Ppo::load(&missing).unwrap_err().to_string();
    assert!(
        msg.contains("none.safetensors") && msg.contains("not found"),
        "{msg}"
    );

    let other = dir.path().join("weights.safetensors");
    let t =
        candle_core::Tensor::zeros(2, candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
    let tensors = HashMap::from([("w".to_string(), t)]);
    infinito_checkpoint::save_tensors(&other, &tensors, None).unwrap();
    let err = Ppo::load(&other).unwrap_err();
    assert!(err.is_usage());
    assert!(err.to_string().contains("not an agent file"), "{err}");

    let wrong = dir.path().join("wrong.safetensors");
    infinito_checkpoint::save_tensors(
        &wrong,
        &tensors,
        Some(&serde_json::json!({"format": "something-else"})),
    )
    .unwrap();
    let msg = Ppo::load(&wrong).unwrap_err().to_string();
    assert!(
        msg.contains("\"something-else\"") && !msg.contains('\n'),
        "{msg}"
    );
}
