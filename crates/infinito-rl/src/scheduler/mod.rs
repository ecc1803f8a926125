//! The TEXT/PHI/MIXED training scheduler as an [`crate::Env`]: configuration, reward,
//! observation and the environment over the shared trainer.

mod config;
mod env;
mod observation;
mod reward;
mod samples;

pub use config::{
    ActionSpec, EnvModelConfig, EpisodeReset, ObservationKind, RewardConfig, RewardKind,
    SchedulerConfig,
};
pub use env::{EnvState, SchedulerEnv, Validation};
pub use observation::ObservationBuilder;
pub use reward::{original_reward, reward, RewardTerms, StepMetrics};
pub use samples::{sample_prompts, PromptSample, SampleSet, SampleSettings, SAMPLE_PROMPTS};
