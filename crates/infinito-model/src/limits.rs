//! Bounds on the sizes that come from flags, config files and checkpoint metadata, checked
//! before anything is allocated: a rough estimate of the memory a run needs against what the
//! machine has free.

use crate::config::Gpt2Config;
use crate::error::{ModelError, Result};

/// Bytes of one f32 value.
const F32: f64 = 4.0;

/// The memory free for new allocations: `MemAvailable` of `/proc/meminfo`; `None` where the
/// file is absent (not Linux) or unreadable.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    mem_available(&text)
}

/// The `MemAvailable` line of a `/proc/meminfo` text, in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// The shape of a run of the hybrid: what its memory depends on besides the GPT-2 config.
#[derive(Debug, Clone, Copy)]
pub struct RunShape {
    /// Windows per batch.
    pub batch: usize,
    /// Tokens per window.
    pub seq_len: usize,
    /// Slots of the PHI-guided memory.
    pub memory_slots: usize,
    /// LoRA rank (0: none).
    pub lora_r: usize,
    /// Whether gradients and optimizer state are kept (training) or not (evaluation).
    pub training: bool,
}

/// Bytes of the f32 weights of a GPT-2 with `config`.
pub fn gpt2_weight_bytes(config: &Gpt2Config) -> f64 {
    let (v, p, e, l) = (
        config.vocab_size as f64,
        config.n_positions as f64,
        config.n_embd as f64,
        config.n_layer as f64,
    );
    let inner = config.n_inner.map_or(4.0 * e, |n| n as f64);
    let per_layer = 4.0 * e * e + 2.0 * e * inner + 9.0 * e + inner;
    F32 * ((v + p) * e + l * per_layer + 2.0 * e)
}

/// A rough upper estimate, in bytes, of the memory a run of `shape` on a GPT-2 of `config`
/// needs: weights (four copies when training: values, gradients, two Adam moments), LoRA,
/// memory slots, and the activations kept for the backward pass (hidden states, attention
/// matrices, logits).
pub fn run_bytes(config: &Gpt2Config, shape: RunShape) -> f64 {
    let (e, h, l, v) = (
        config.n_embd as f64,
        config.n_head as f64,
        config.n_layer as f64,
        config.vocab_size as f64,
    );
    let copies = if shape.training { 4.0 } else { 1.0 };
    let lora = F32 * l * 2.0 * shape.lora_r as f64 * (e + 4.0 * e);
    let memory = F32 * 4.0 * shape.memory_slots as f64 * e;
    let tokens = shape.batch as f64 * shape.seq_len as f64;
    let per_token = l * (18.0 * e + 3.0 * h * shape.seq_len as f64) + 3.0 * v + 8.0 * e;
    copies * (gpt2_weight_bytes(config) + lora + memory) + F32 * tokens * per_token
}

/// Refuses a run needing `needed` bytes when that is more than the available memory; `what`
/// names the flags (or config keys) and their values.
pub fn check_memory(what: &str, needed: f64) -> Result<()> {
    match available_memory() {
        Some(available) if needed > available as f64 => Err(ModelError::TooLarge {
            what: what.to_string(),
            needed: gib(needed),
            available: gib(available as f64),
        }),
        _ => Ok(()),
    }
}

/// `bytes` in GiB, for messages.
fn gib(bytes: f64) -> f64 {
    bytes / (1u64 << 30) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_available_reads_the_kib_line() {
        let text = "MemTotal:       16000000 kB\nMemFree:  100 kB\nMemAvailable:    2048 kB\n";
        assert_eq!(mem_available(text), Some(2048 * 1024));
        assert_eq!(mem_available("MemTotal: 5 kB\n"), None);
    }

    #[test]
    fn gpt2_small_weights_are_its_124m_parameters() {
        // GPT-2 small has 124,439,808 parameters (transformers' num_parameters()).
        let bytes = gpt2_weight_bytes(&Gpt2Config::gpt2_small());
        assert_eq!(bytes / 4.0, 124_439_808.0);
    }

    #[test]
    fn a_huge_batch_is_refused_naming_the_flag() {
        let shape = RunShape {
            batch: 1_000_000_000,
            seq_len: 1024,
            memory_slots: 10,
            lora_r: 8,
            training: true,
        };
        let needed = run_bytes(&Gpt2Config::gpt2_small(), shape);
        assert!(needed > 1e18);
        if available_memory().is_some() {
            let err = check_memory("--batch-size 1000000000", needed).unwrap_err();
            assert!(err
                .to_string()
                .starts_with("--batch-size 1000000000: needs about"));
        }
    }
}
