//! Where a training step's time goes: forward (loss included), backward, and the optimizer
//! (clipping and AdamW), per step in `metrics.jsonl` and as a run total at the end.

use std::time::Instant;

/// Seconds spent in each phase of one training step.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepTimes {
    /// The model's forward pass and loss.
    pub forward: f64,
    /// `loss.backward()`.
    pub backward: f64,
    /// Gradient clipping and the AdamW update.
    pub optimizer: f64,
}

impl StepTimes {
    /// The three phases together.
    pub fn total(&self) -> f64 {
        self.forward + self.backward + self.optimizer
    }
}

/// A stopwatch that hands out the seconds since it was last read.
pub(crate) struct Lap(Instant);

impl Lap {
    pub(crate) fn start() -> Self {
        Self(Instant::now())
    }

    /// Seconds since the start or the previous lap.
    pub(crate) fn lap(&mut self) -> f64 {
        let now = Instant::now();
        let secs = (now - self.0).as_secs_f64();
        self.0 = now;
        secs
    }
}

/// Phase totals over the steps of one run (not saved in checkpoints).
#[derive(Debug, Default)]
pub(crate) struct Profile {
    steps: u64,
    total: StepTimes,
    /// Totals of the forward pass's named parts, in first-seen order.
    forward_parts: Vec<(&'static str, f64)>,
}

impl Profile {
    pub(crate) fn add(&mut self, t: StepTimes, forward_parts: &[(&'static str, f64)]) {
        self.steps += 1;
        self.total.forward += t.forward;
        self.total.backward += t.backward;
        self.total.optimizer += t.optimizer;
        for &(name, secs) in forward_parts {
            match self.forward_parts.iter_mut().find(|(n, _)| *n == name) {
                Some((_, total)) => *total += secs,
                None => self.forward_parts.push((name, secs)),
            }
        }
    }

    /// One line: mean seconds per step and each phase's share, or `None` before any step.
    pub(crate) fn summary(&self) -> Option<String> {
        if self.steps == 0 {
            return None;
        }
        let n = self.steps as f64;
        let all = self.total.total().max(f64::MIN_POSITIVE);
        let part = |name: &str, secs: f64| {
            format!("{name} {:.3} s ({:.0}%)", secs / n, 100.0 * secs / all)
        };
        let parts = if self.forward_parts.is_empty() {
            String::new()
        } else {
            let named: Vec<String> = self
                .forward_parts
                .iter()
                .map(|&(name, secs)| part(name, secs))
                .collect();
            format!(" (of which {})", named.join(", "))
        };
        Some(format!(
            "profile: {} steps, {:.3} s per step: {}{parts}, {}, {}",
            self.steps,
            all / n,
            part("forward", self.total.forward),
            part("backward", self.total.backward),
            part("optimizer", self.total.optimizer),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_reports_means_and_shares() {
        let mut p = Profile::default();
        assert_eq!(p.summary(), None);
        let times = StepTimes {
            forward: 0.5,
            backward: 0.3,
            optimizer: 0.2,
        };
        for _ in 0..2 {
            p.add(times, &[]);
        }
        assert_eq!(
            p.summary().unwrap(),
            "profile: 2 steps, 1.000 s per step: forward 0.500 s (50%), backward 0.300 s (30%), \
             optimizer 0.200 s (20%)"
        );
        let mut p = Profile::default();
        p.add(times, &[("gpt2", 0.3), ("phi", 0.1)]);
        p.add(times, &[("gpt2", 0.1), ("phi", 0.3)]);
        assert_eq!(
            p.summary().unwrap(),
            "profile: 2 steps, 1.000 s per step: forward 0.500 s (50%) (of which gpt2 0.200 s \
             (20%), phi 0.200 s (20%)), backward 0.300 s (30%), optimizer 0.200 s (20%)"
        );
    }
}
