//! The scheduler environment on the built-in tiny model: real updates, action-dependent
//! outcomes, snapshot/continue resets, truncation, and model checkpoints.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use infinito_rl::scheduler::{EpisodeReset, SchedulerConfig, SchedulerEnv};
use infinito_rl::Env;
use infinito_train::TrainModel;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TEXT: usize = 0;
const PHI: usize = 1;

fn tiny_config() -> SchedulerConfig {
    let mut config = SchedulerConfig {
        inner_steps: 2,
        max_steps: 3,
        batch_size: 2,
        ..SchedulerConfig::default()
    };
    config.model.seq_len = 32;
    config.model.memory_slots = 16;
    config.model.lr = 5e-3;
    config
}

fn build(
    config: SchedulerConfig,
    dir: &std::path::Path,
) -> Result<SchedulerEnv, Box<dyn std::error::Error>> {
    Ok(SchedulerEnv::build(config, &dir.join("env"), &Device::Cpu)?)
}

/// Every trainable parameter of the model, flattened.
fn weights(env: &SchedulerEnv) -> Result<HashMap<String, Vec<f32>>, Box<dyn std::error::Error>> {
    let mut out = HashMap::new();
    for (name, var) in env.model().trainable_vars() {
        out.insert(name, flat(var.as_tensor())?);
    }
    Ok(out)
}

fn flat(t: &Tensor) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
    Ok(t.flatten_all()?
        .to_dtype(candle_core::DType::F32)?
        .to_vec1::<f32>()?)
}

/// A step runs real optimizer updates, and from the same state (same batches) the TEXT and
/// PHI actions lead to different models and rewards: PHI moves the learned PHI towards its
/// target more than TEXT does, TEXT lowers the LM loss more than PHI does.
#[test]
fn actions_steer_the_training() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut env = build(tiny_config(), dir.path())?;
    env.reset(Some(7))?;
    let mut phi_gap = Vec::new();
    let mut text_gap = Vec::new();
    for _ in 0..3 {
        let state = env.save_state()?;
        let before = weights(&env)?;
        let text = env.step(TEXT)?;
        let after_text = weights(&env)?;
        assert!(before != after_text, "a step must update the model");
        env.restore_state(&state)?;
        assert!(weights(&env)? == before);
        let phi = env.step(PHI)?;
        assert!(weights(&env)? != after_text);
        assert_ne!(text.reward, phi.reward);
        let target = 6.0;
        phi_gap.push((text.info["phi"] - target).abs() - (phi.info["phi"] - target).abs());
        text_gap.push(phi.info["loss_text"] - text.info["loss_text"]);
        // Continue the episode along the TEXT branch's batches.
        env.restore_state(&state)?;
        env.step(TEXT)?;
    }
    assert!(
        phi_gap.iter().all(|g| *g > 0.0),
        "PHI must get closer to the target: {phi_gap:?}"
    );
    assert!(
        text_gap.iter().all(|g| *g > 0.0),
        "TEXT must lower the LM loss more: {text_gap:?}"
    );
    Ok(())
}

/// The time limit truncates (never terminates) an episode, and a snapshot reset rewinds the
/// model to the run's start while a `continue` reset keeps training.
#[test]
fn episodes_truncate_and_reset_per_mode() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut env = build(tiny_config(), dir.path())?;
    env.reset(None)?;
    let start = weights(&env)?;
    let mut flags = Vec::new();
    for _ in 0..3 {
        let t = env.step(PHI)?;
        flags.push((t.terminated, t.truncated));
    }
    assert_eq!(flags, vec![(false, false), (false, false), (false, true)]);
    env.reset(None)?;
    assert!(weights(&env)? == start, "snapshot reset rewinds the model");
    assert_eq!(env.episodes(), 2);

    let dir = tempfile::tempdir()?;
    let mut config = tiny_config();
    config.episode_reset = EpisodeReset::Continue;
    let mut env = build(config, dir.path())?;
    env.reset(None)?;
    let start = weights(&env)?;
    env.step(TEXT)?;
    let trained = weights(&env)?;
    env.reset(None)?;
    assert!(weights(&env)? != start);
    let after = weights(&env)?;
    let differing: Vec<&String> = after.keys().filter(|k| after[*k] != trained[*k]).collect();
    assert!(
        differing.is_empty(),
        "continue reset keeps the model: {differing:?}"
    );
    Ok(())
}

/// The environment's model is saved as a trainer checkpoint that the evaluation loader reads
/// back with the same weights, and `load_model` continues from it.
#[test]
fn model_checkpoints_round_trip() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut env = build(tiny_config(), dir.path())?;
    env.reset(None)?;
    env.step(TEXT)?;
    let trained = weights(&env)?;
    let path = dir.path().join("model.safetensors");
    env.save_model(&path)?;
    let (hybrid, tokenizer) = infinito_train::setup::load_for_eval(&path, &Device::Cpu)?;
    assert!(tokenizer.is_some());
    let loaded = hybrid.state()?;
    for (name, values) in &trained {
        let t = loaded.get(name).ok_or(format!("{name} missing"))?;
        assert_eq!(
            &t.flatten_all()?
                .to_dtype(candle_core::DType::F32)?
                .to_vec1::<f32>()?,
            values,
            "{name}"
        );
    }
    env.reset(None)?;
    assert!(weights(&env)? != trained);
    env.load_model(&path)?;
    assert!(weights(&env)? == trained);
    Ok(())
}

/// Config files change reward constants without code; unknown keys are refused by name.
#[test]
fn config_files_set_reward_constants() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("env.toml");
    std::fs::write(
        &path,
        "inner_steps = 3\n[reward]\nalpha = 0.5\nphi_band = [2.0, 5.0]\n",
    )?;
    let config = SchedulerConfig::load(&path)?;
    assert_eq!(config.inner_steps, 3);
    assert_eq!(config.reward.alpha, 0.5);
    assert_eq!(config.reward.phi_band, [2.0, 5.0]);
    assert_eq!(
        config.reward.beta, 0.5,
        "unset constants keep their defaults"
    );
    std::fs::write(&path, "[reward]\nalfa = 0.5\n")?;
    let err = SchedulerConfig::load(&path).unwrap_err().to_string();
    assert!(err.contains("env.toml") && err.contains("alfa"), "{err}");
    Ok(())
}

/// An action outside the action space is an error, not a panic.
#[test]
fn bad_action_is_an_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut env = build(tiny_config(), dir.path())?;
    env.reset(None)?;
    let err = env.step(3).unwrap_err().to_string();
    assert!(err.contains("action 3"), "{err}");
    Ok(())
}
