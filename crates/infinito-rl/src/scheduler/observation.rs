//! The observation the agent sees after each environment step.

use super::config::ObservationKind;
use super::reward::StepMetrics;

/// Builds observations and keeps the state they need (the original's breakthrough counter).
#[derive(Debug, Clone, PartialEq)]
pub struct ObservationBuilder {
    kind: ObservationKind,
    n_actions: usize,
    max_steps: u32,
    breakthrough_c: f64,
    counter: u32,
}

impl ObservationBuilder {
    /// A builder for episodes of `max_steps` with `n_actions` actions.
    pub fn new(
        kind: ObservationKind,
        n_actions: usize,
        max_steps: u32,
        breakthrough_c: f64,
    ) -> Self {
        Self {
            kind,
            n_actions,
            max_steps,
            breakthrough_c,
            counter: 0,
        }
    }

    /// Length of the observation.
    pub fn dim(&self) -> usize {
        match self.kind {
            ObservationKind::Original => 6,
            ObservationKind::Normalized => 6 + self.n_actions,
        }
    }

    /// Starts an episode (the counter restarts at 0).
    pub fn reset(&mut self) {
        self.counter = 0;
    }

    /// The observation after a step with metrics `cur` (`prev`: those before it; `step`: steps
    /// taken in the episode; `last_action`: none at the start of an episode).
    ///
    /// Original: `[C, clip(phi, 0, 10), clip(loss_text, 0, 20), clip(loss_phi, 0, 20),
    /// memory_util, t_norm]` where `t_norm = min(counter / max_steps, 1)` and the counter,
    /// updated by every call, drops to 0 when `C > breakthrough_c` and otherwise grows by 1.
    pub fn observe(
        &mut self,
        prev: &StepMetrics,
        cur: &StepMetrics,
        step: u32,
        last_action: Option<usize>,
    ) -> Vec<f32> {
        self.counter = if cur.c > self.breakthrough_c {
            0
        } else {
            self.counter + 1
        };
        let max_steps = f64::from(self.max_steps);
        let values: Vec<f64> = match self.kind {
            ObservationKind::Original => vec![
                cur.c,
                cur.phi.clamp(0.0, 10.0),
                cur.loss_text.clamp(0.0, 20.0),
                cur.loss_phi.clamp(0.0, 20.0),
                cur.memory_util,
                (f64::from(self.counter) / max_steps).min(1.0),
            ],
            ObservationKind::Normalized => {
                let mut v = vec![
                    (cur.loss_text / 10.0).clamp(0.0, 2.0),
                    (cur.phi / 10.0).clamp(0.0, 1.0),
                    (cur.loss_text - prev.loss_text).clamp(-1.0, 1.0),
                    (cur.phi - prev.phi).clamp(-1.0, 1.0),
                    cur.memory_util,
                    (f64::from(step) / max_steps).min(1.0),
                ];
                v.extend((0..self.n_actions).map(|a| f64::from(u8::from(last_action == Some(a)))));
                v
            }
        };
        values
            .into_iter()
            .map(|v| if v.is_finite() { v as f32 } else { 0.0 })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(phi: f64, loss_text: f64, loss_phi: f64) -> StepMetrics {
        StepMetrics::new(phi, loss_text, loss_phi, 1.0, 0.25, 10.0)
    }

    #[test]
    fn original_values_and_breakthrough_counter() {
        let mut b = ObservationBuilder::new(ObservationKind::Original, 3, 4, 0.6);
        let m = metrics(4.0, 25.0, -1.0);
        let obs = b.observe(&m, &m, 0, None);
        assert_eq!(obs, vec![0.4, 4.0, 20.0, 0.0, 0.25, 0.25]);
        let obs = b.observe(&m, &m, 1, Some(0));
        assert_eq!(obs[5], 0.5);
        let high = metrics(7.0, 3.0, 2.0);
        let obs = b.observe(&m, &high, 2, Some(1));
        assert_eq!(obs[0], 0.7);
        assert_eq!(obs[5], 0.0, "C > 0.6 resets the counter");
        for step in 0..6 {
            b.observe(&m, &m, step, None);
        }
        assert_eq!(b.observe(&m, &m, 7, None)[5], 1.0, "t_norm is capped at 1");
    }

    #[test]
    fn normalized_values_with_last_action() {
        let mut b = ObservationBuilder::new(ObservationKind::Normalized, 3, 10, 0.6);
        assert_eq!(b.dim(), 9);
        let prev = metrics(4.0, 5.0, 0.0);
        let cur = metrics(4.5, 3.0, 0.0);
        let obs = b.observe(&prev, &cur, 5, Some(2));
        assert_eq!(obs, vec![0.3, 0.45, -1.0, 0.5, 0.25, 0.5, 0.0, 0.0, 1.0]);
    }
}
