//! Trains PPO on CartPole-v1 with rl-zoo's tuned settings (one environment, so a rollout of
//! 256 steps stands for rl-zoo's 8 environments x 32 steps), then evaluates the deterministic
//! policy on 20 episodes. The last line printed is `mean_return: X`.
//!
//! `cargo run --release -p infinito-rl --example ppo_cartpole -- --seed 0 --timesteps 100000`

use clap::Parser;
use infinito_rl::{
    evaluate, Callback, CartPole, NetArch, Ppo, PpoConfig, Result, Schedule, StepRecord,
    UpdateStats,
};
use infinito_rl::{Control, EpisodeSummary};
use std::time::Instant;

#[derive(Parser)]
#[command(about = "PPO on CartPole-v1 (rl-zoo settings)")]
struct Args {
    /// Seed of the agent and the training environment.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Environment steps to train for (whole rollouts of 256).
    #[arg(long, default_value_t = 100_000)]
    timesteps: u64,
    /// Evaluation episodes after training.
    #[arg(long, default_value_t = 20)]
    eval_episodes: usize,
}

/// Prints a progress line every 10 updates with the mean return of the last 20 episodes.
#[derive(Default)]
struct Progress {
    recent: Vec<EpisodeSummary>,
    updates: u64,
}

impl Callback for Progress {
    fn on_step(&mut self, _agent: &Ppo, record: &StepRecord<'_>) -> Result<Control> {
        if let Some(episode) = record.episode {
            self.recent.push(episode);
            if self.recent.len() > 20 {
                self.recent.remove(0);
            }
        }
        Ok(Control::Continue)
    }

    fn on_update(&mut self, _agent: &Ppo, stats: &UpdateStats) -> Result<()> {
        self.updates += 1;
        if self.updates.is_multiple_of(10) {
            let mean = self.recent.iter().map(|e| e.total_reward).sum::<f64>()
                / self.recent.len().max(1) as f64;
            println!(
                "steps {:>7}  ep_return(last 20) {mean:>6.1}  value_loss {:>8.3}  approx_kl {:.4}  clip_fraction {:.3}  explained_variance {:.3}",
                stats.num_timesteps,
                stats.value_loss,
                stats.approx_kl,
                stats.clip_fraction,
                stats.explained_variance.unwrap_or(f64::NAN)
            );
        }
        Ok(())
    }
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
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
    let mut agent = Ppo::new(4, 2, config, args.seed)?;
    let mut env = CartPole::new(args.seed);
    let start = Instant::now();
    agent.learn(&mut env, args.timesteps, &mut Progress::default())?;
    let train_seconds = start.elapsed().as_secs_f64();
    let mut eval_env = CartPole::new(args.seed.wrapping_add(1_000_003));
    let episodes = evaluate(&agent, &mut eval_env, args.eval_episodes, true)?;
    let mean = episodes.iter().map(|e| e.total_reward).sum::<f64>() / episodes.len().max(1) as f64;
    println!(
        "trained {} steps in {train_seconds:.1} s; evaluation returns: {:?}",
        agent.num_timesteps(),
        episodes.iter().map(|e| e.total_reward).collect::<Vec<_>>()
    );
    println!("mean_return: {mean}");
    Ok(())
}
