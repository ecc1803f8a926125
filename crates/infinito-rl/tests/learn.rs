//! The learning loop through the public API: callbacks see every step, rollouts are whole,
//! schedules follow SB3's progress, runs are deterministic, and PPO learns CartPole.

mod common;

use common::small_config;
use infinito_rl::{
    evaluate, Callback, CartPole, Control, LearnOutcome, NetArch, Ppo, PpoConfig, Result, Schedule,
    StepRecord, UpdateStats,
};

/// A step as seen by the callback: counter, episode ended, (return, length) if reported.
type SeenStep = (u64, bool, Option<(f64, u64)>);

/// Records every step and update; asks to stop after `stop_at` steps if set.
#[derive(Default)]
struct Recorder {
    steps: Vec<SeenStep>,
    updates: Vec<UpdateStats>,
    stop_at: Option<u64>,
}

impl Callback for Recorder {
    fn on_step(&mut self, agent: &Ppo, record: &StepRecord<'_>) -> Result<Control> {
        assert_eq!(agent.num_timesteps(), record.num_timesteps);
        let done = record.terminated || record.truncated;
        self.steps.push((
            record.num_timesteps,
            done,
            record.episode.map(|e| (e.total_reward, e.length)),
        ));
        Ok(if self.stop_at == Some(record.num_timesteps) {
            Control::Stop
        } else {
            Control::Continue
        })
    }

    fn on_update(&mut self, _agent: &Ppo, stats: &UpdateStats) -> Result<()> {
        self.updates.push(stats.clone());
        Ok(())
    }
}

#[test]
fn callbacks_see_every_step_and_episode() {
    let mut agent = Ppo::new(4, 2, small_config(), 0).unwrap();
    let mut env = CartPole::new(0);
    let mut rec = Recorder::default();
    let outcome = agent.learn(&mut env, 100, &mut rec).unwrap();
    assert_eq!(outcome, LearnOutcome::Completed);
    // Whole rollouts: 100 steps asked, 2 rollouts of 64 run.
    assert_eq!(agent.num_timesteps(), 128);
    assert_eq!(agent.n_updates(), 4);
    let counters: Vec<u64> = rec.steps.iter().map(|s| s.0).collect();
    assert_eq!(counters, (1..=128).collect::<Vec<u64>>());
    // Every ended episode is reported, with its length; CartPole pays 1 per step.
    let mut since_last_end = 0;
    for (_, done, episode) in &rec.steps {
        since_last_end += 1;
        assert_eq!(*done, episode.is_some());
        if let Some((total, length)) = episode {
            assert_eq!(*length, since_last_end);
            assert_eq!(*total, *length as f64);
            since_last_end = 0;
        }
    }
    assert!(rec.steps.iter().filter(|s| s.1).count() >= 2);
    assert_eq!(rec.updates.len(), 2);
    assert_eq!(rec.updates[1].num_timesteps, 128);
    assert_eq!(rec.updates[1].n_updates, 4);
    let stats = &rec.updates[0];
    assert!(stats.value_loss > 0.0 && stats.entropy_loss < 0.0 && stats.approx_kl >= 0.0);
    assert!((0.0..=1.0).contains(&stats.clip_fraction));
}

#[test]
fn a_stop_interrupts_without_updating_and_learning_resumes() {
    let mut agent = Ppo::new(4, 2, small_config(), 0).unwrap();
    let mut env = CartPole::new(0);
    let mut rec = Recorder {
        stop_at: Some(90),
        ..Recorder::default()
    };
    let outcome = agent.learn(&mut env, 1000, &mut rec).unwrap();
    assert_eq!(outcome, LearnOutcome::Interrupted);
    assert_eq!(agent.num_timesteps(), 90);
    assert_eq!(rec.updates.len(), 1, "no update on the partial rollout");
    // A continued run picks up the episode in progress and counts on.
    let mut rec = Recorder::default();
    agent.learn(&mut env, 90 + 64, &mut rec).unwrap();
    assert_eq!(rec.steps.first().unwrap().0, 91);
    assert_eq!(agent.num_timesteps(), 154);
}

#[test]
fn schedules_are_evaluated_at_sb3s_progress_remaining() {
    let config = PpoConfig {
        learning_rate: Schedule::linear_to_zero(1e-3),
        clip_range: Schedule::Linear {
            start: 0.3,
            end: 0.1,
            end_fraction: 0.5,
        },
        ..small_config()
    };
    let mut agent = Ppo::new(4, 2, config, 0).unwrap();
    let mut rec = Recorder::default();
    agent.learn(&mut CartPole::new(0), 256, &mut rec).unwrap();
    // Updates after 64, 128, 192, 256 of 256 steps: progress 0.75, 0.5, 0.25, 0.
    let lrs: Vec<f64> = rec.updates.iter().map(|u| u.learning_rate).collect();
    let clips: Vec<f64> = rec.updates.iter().map(|u| u.clip_range).collect();
    for (got, want) in lrs.iter().zip([7.5e-4, 5e-4, 2.5e-4, 0.0]) {
        assert!((got - want).abs() < 1e-12, "{lrs:?}");
    }
    for (got, want) in clips.iter().zip([0.2, 0.1, 0.1, 0.1]) {
        assert!((got - want).abs() < 1e-12, "{clips:?}");
    }
}

#[test]
fn equal_seeds_give_equal_runs() {
    let run = |seed: u64| {
        let mut agent = Ppo::new(4, 2, small_config(), seed).unwrap();
        let mut rec = Recorder::default();
        agent.learn(&mut CartPole::new(5), 128, &mut rec).unwrap();
        (
            rec.updates,
            agent.action_probs(&[0.01, -0.02, 0.03, 0.04]).unwrap(),
        )
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1).1, run(2).1);
}

#[test]
fn wrong_environment_sizes_are_errors() {
    let mut agent = Ppo::new(3, 2, small_config(), 0).unwrap();
    let err = agent
        .learn(&mut CartPole::new(0), 64, &mut ())
        .unwrap_err()
        .to_string();
    assert!(err.contains("length 4") && err.contains("agent 3"), "{err}");
    assert!(evaluate(&agent, &mut CartPole::new(0), 1, true).is_err());
}

/// rl-zoo's CartPole-v1 settings for one environment, on a small budget: the deterministic
/// policy must clearly beat a random one (about 22 steps per episode).
#[test]
fn ppo_learns_cartpole() {
    let config = PpoConfig {
        n_steps: 256,
        batch_size: 256,
        n_epochs: 20,
        gamma: 0.98,
        gae_lambda: 0.8,
        ent_coef: 0.0,
        learning_rate: Schedule::linear_to_zero(1e-3),
        clip_range: Schedule::linear_to_zero(0.2),
        net_arch: NetArch {
            pi: vec![64, 64],
            vf: vec![64, 64],
        },
        ..PpoConfig::default()
    };
    let mut agent = Ppo::new(4, 2, config, 0).unwrap();
    let mut env = CartPole::new(0);
    agent.learn(&mut env, 20_000, &mut ()).unwrap();
    let episodes = evaluate(&agent, &mut CartPole::new(1), 10, true).unwrap();
    let mean = episodes.iter().map(|e| e.total_reward).sum::<f64>() / episodes.len() as f64;
    assert!(mean > 150.0, "mean return {mean} after 20k steps");
}
