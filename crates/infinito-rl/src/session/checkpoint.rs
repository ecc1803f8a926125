//! Scheduler checkpoints: a directory holding the agent, the environment's model and the
//! environment configuration, written atomically; and the loader that also takes
//! stable-baselines3 `.zip` agents.

use std::path::{Path, PathBuf};

use super::files::{io_error, ENV_CONFIG_FILE};
use crate::error::{Result, RlError};
use crate::ppo::{ConfigOverrides, Ppo};
use crate::scheduler::{SchedulerConfig, SchedulerEnv};

/// The agent (policy, optimizer, counters) inside a checkpoint directory.
pub const AGENT_FILE: &str = "agent.safetensors";
/// The environment's model (a trainer checkpoint: `generate` and `perplexity` read it).
pub const MODEL_FILE: &str = "model.safetensors";

/// Writes `dir` with the agent, the environment's model and its configuration. The files
/// are written into a sibling temporary directory that then replaces `dir`, so a crash
/// leaves either the old checkpoint or the new one.
pub fn save_checkpoint(dir: &Path, agent: &Ppo, env: &SchedulerEnv) -> Result<()> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| RlError::Env(format!("{}: not a directory name", dir.display())))?;
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
    let staging = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| io_error(&staging, e))?;
    }
    std::fs::create_dir_all(&staging).map_err(|e| io_error(&staging, e))?;
    let written = (|| {
        agent.save(&staging.join(AGENT_FILE))?;
        env.save_model(&staging.join(MODEL_FILE))?;
        infinito_checkpoint::save_json(&staging.join(ENV_CONFIG_FILE), env.config())?;
        Ok(())
    })();
    if let Err(e) = written {
        // A failed write (a full disk) leaves nothing behind; the old checkpoint stays.
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    let had_old = dir.exists();
    if had_old {
        std::fs::rename(dir, &old).map_err(|e| io_error(dir, e))?;
    }
    std::fs::rename(&staging, dir).map_err(|e| io_error(dir, e))?;
    if had_old {
        std::fs::remove_dir_all(&old).map_err(|e| io_error(&old, e))?;
    }
    Ok(())
}

/// An agent read from a checkpoint, with what came with it.
pub struct LoadedAgent {
    /// The agent, overrides applied.
    pub agent: Ppo,
    /// The environment's saved model (our checkpoints only).
    pub model: Option<PathBuf>,
    /// The environment configuration saved with it (our checkpoints only).
    pub env_config: Option<SchedulerConfig>,
    /// Lines about what could not be read and was replaced.
    pub notes: Vec<String>,
}

/// What `--checkpoint` accepts where an agent is read.
const EXPECTED_AGENT: &str = "expected a scheduler checkpoint directory (with agent.safetensors), an agent .safetensors file or a stable-baselines3 .zip";

/// Reads one of our checkpoint directories, an agent file on its own (no model or environment
/// config is taken from its neighbours) or a stable-baselines3 PPO `.zip`, and applies
/// `overrides` to the agent.
pub fn load_agent(path: &Path, overrides: &ConfigOverrides) -> Result<LoadedAgent> {
    let bad = |reason: &str| RlError::BadFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if !path.exists() {
        return Err(bad("no such file or directory"));
    }
    let has_extension = |ext: &str| {
        path.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case(ext))
    };
    if path.is_file() && has_extension("zip") {
        let import = Ppo::from_sb3_zip(path, overrides)?;
        return Ok(LoadedAgent {
            agent: import.agent,
            model: None,
            env_config: None,
            notes: import.notes,
        });
    }
    let (agent_path, dir) = if path.is_dir() {
        (path.join(AGENT_FILE), Some(path))
    } else if has_extension("safetensors") {
        (path.to_path_buf(), None)
    } else {
        return Err(bad(EXPECTED_AGENT));
    };
    if !agent_path.is_file() {
        return Err(bad(EXPECTED_AGENT));
    }
    let mut agent = Ppo::load(&agent_path)?;
    agent.apply_overrides(overrides)?;
    let model = dir.map(|d| d.join(MODEL_FILE)).filter(|p| p.exists());
    let env_config = match dir.map(|d| d.join(ENV_CONFIG_FILE)) {
        Some(config) if config.exists() => Some(infinito_checkpoint::load_json(&config)?),
        _ => None,
    };
    Ok(LoadedAgent {
        agent,
        model,
        env_config,
        notes: Vec::new(),
    })
}
