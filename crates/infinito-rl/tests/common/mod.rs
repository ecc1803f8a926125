//! What the PPO tests share.

use infinito_rl::{NetArch, PpoConfig};

/// A PPO small enough to train in a test: rollouts of 64, minibatches of 16, 16-16 networks.
pub fn small_config() -> PpoConfig {
    PpoConfig {
        n_steps: 64,
        batch_size: 16,
        n_epochs: 2,
        net_arch: NetArch {
            pi: vec![16, 16],
            vf: vec![16, 16],
        },
        ..PpoConfig::default()
    }
}
