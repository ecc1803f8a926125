//! Periodic console summaries of a scheduler run, computed over every step since the last
//! summary (not over the last step of each rollout).

use std::fmt::Write;

use crate::scheduler::RewardConfig;

/// Running values over a window of steps.
#[derive(Debug, Clone, Default)]
pub struct StepWindow {
    rewards: Vec<f64>,
    phi: Vec<f64>,
    c: Vec<f64>,
    ppl: Vec<f64>,
    actions: Vec<u64>,
    returns: Vec<f64>,
    lengths: Vec<f64>,
}

impl StepWindow {
    /// An empty window over `n_actions` actions.
    pub fn new(n_actions: usize) -> Self {
        Self {
            actions: vec![0; n_actions],
            ..Self::default()
        }
    }

    /// Adds one step.
    pub fn add(&mut self, action: usize, reward: f64, phi: f64, c: f64, ppl: f64) {
        self.rewards.push(reward);
        self.phi.push(phi);
        self.c.push(c);
        self.ppl.push(ppl);
        if let Some(n) = self.actions.get_mut(action) {
            *n += 1;
        }
    }

    /// Adds an episode that ended.
    pub fn add_episode(&mut self, total_reward: f64, length: u64) {
        self.returns.push(total_reward);
        self.lengths.push(length as f64);
    }

    /// Steps in the window.
    pub fn len(&self) -> usize {
        self.rewards.len()
    }

    /// True when no step was added.
    pub fn is_empty(&self) -> bool {
        self.rewards.is_empty()
    }

    /// Share of each action, in percent.
    pub fn action_shares(&self) -> Vec<f64> {
        let total: u64 = self.actions.iter().sum();
        self.actions
            .iter()
            .map(|&n| 100.0 * n as f64 / total.max(1) as f64)
            .collect()
    }

    /// Mean reward over the window.
    pub fn mean_reward(&self) -> f64 {
        Stats::of(&self.rewards).mean
    }

    /// The multi-line summary: progress, reward, PHI, C, perplexity with alerts against the
    /// reward's bands, action distribution with remarks, and episodes.
    pub fn report(&self, names: &[String], progress: &Progress, bands: &RewardConfig) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", progress.line());
        let r = Stats::of(&self.rewards);
        let _ = writeln!(
            out,
            "  reward   mean {:+.4} std {:.4} [{:+.4}, {:+.4}] over {} steps",
            r.mean, r.std, r.min, r.max, r.n
        );
        let phi = Stats::of(&self.phi);
        let [lo, hi] = bands.phi_band;
        let phi_alert = if phi.mean > hi {
            format!("above {hi}: collapse risk")
        } else if phi.mean >= lo {
            format!("in band [{lo}, {hi}]")
        } else {
            format!("below {lo}")
        };
        let _ = writeln!(out, "  phi      {}  {phi_alert}", phi.brief());
        let _ = writeln!(out, "  C        {}", Stats::of(&self.c).brief());
        let ppl = Stats::of(&self.ppl);
        let [plo, phi_] = bands.ppl_band;
        let ppl_alert = if ppl.mean < plo {
            format!("below {plo}: collapse")
        } else if ppl.mean > phi_ {
            format!("above {phi_}: confused")
        } else {
            "safe".to_string()
        };
        let _ = writeln!(out, "  ppl      {}  {ppl_alert}", ppl.brief());
        let shares = self.action_shares();
        let mut line = String::from("  actions ");
        for (name, share) in names.iter().zip(&shares) {
            let bar = "#".repeat((share / 5.0).round() as usize);
            let _ = write!(line, " {name} {share:5.1}% {bar:<20}");
        }
        let _ = writeln!(out, "{}", line.trim_end());
        let _ = writeln!(out, "           {}", action_remark(names, &shares));
        if self.returns.is_empty() {
            let _ = writeln!(out, "  episodes none ended in this window");
        } else {
            let ret = Stats::of(&self.returns);
            let len = Stats::of(&self.lengths);
            let _ = writeln!(
                out,
                "  episodes {} ended: return {} | length {:.1}",
                ret.n,
                ret.brief(),
                len.mean
            );
        }
        out
    }
}

/// A remark on an action distribution: unexplored, dominated or balanced.
pub fn action_remark(names: &[String], shares: &[f64]) -> String {
    if let Some((name, _)) = names.iter().zip(shares).find(|(_, s)| **s == 0.0) {
        return format!("{name} never chosen: not explored");
    }
    let (top, top_share) = names
        .iter()
        .zip(shares)
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(n, s)| (n.clone(), *s))
        .unwrap_or_default();
    let low = shares.iter().copied().fold(f64::INFINITY, f64::min);
    if top_share - low > 20.0 {
        format!("dominated by {top} ({top_share:.0}%)")
    } else {
        "balanced".to_string()
    }
}

/// How far a session is.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Steps done in this session.
    pub done: u64,
    /// Steps this session runs.
    pub total: u64,
    /// The step counter.
    pub num_timesteps: u64,
    /// Seconds since the session started.
    pub elapsed: f64,
}

impl Progress {
    /// `[####......] 12.0% | 1200/10000 steps (counter 31200) | elapsed 0:05:12 | ETA 0:38:06`.
    pub fn line(&self) -> String {
        let fraction = self.done as f64 / self.total.max(1) as f64;
        let filled = ((fraction * 40.0).round() as usize).min(40);
        let eta = if self.done == 0 {
            "?".to_string()
        } else {
            clock(self.elapsed / self.done as f64 * self.total.saturating_sub(self.done) as f64)
        };
        format!(
            "[{}{}] {:5.1}% | {}/{} steps (counter {}) | elapsed {} | ETA {eta}",
            "#".repeat(filled),
            ".".repeat(40 - filled),
            100.0 * fraction,
            self.done,
            self.total,
            self.num_timesteps,
            clock(self.elapsed),
        )
    }
}

/// `H:MM:SS`.
pub fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Mean, population standard deviation, minimum and maximum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Number of finite values.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Standard deviation (ddof 0).
    pub std: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
}

impl Stats {
    /// Statistics of the finite values (NaN when there are none).
    pub fn of(values: &[f64]) -> Self {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if finite.is_empty() {
            return Self {
                n: 0,
                mean: f64::NAN,
                std: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        let n = finite.len() as f64;
        let mean = finite.iter().sum::<f64>() / n;
        let var = finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        Self {
            n: finite.len(),
            mean,
            std: var.sqrt(),
            min: finite.iter().copied().fold(f64::INFINITY, f64::min),
            max: finite.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }

    /// `mean ± std [min, max]`.
    pub fn brief(&self) -> String {
        format!(
            "{:.4} ± {:.4} [{:.4}, {:.4}]",
            self.mean, self.std, self.min, self.max
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_and_shares_are_computed_over_every_step() {
        let mut w = StepWindow::new(3);
        for (a, r) in [(0, 1.0), (0, 3.0), (1, 2.0), (2, 2.0)] {
            w.add(a, r, 4.0, 0.4, 50.0);
        }
        assert_eq!(w.action_shares(), vec![50.0, 25.0, 25.0]);
        let s = Stats::of(&[1.0, 3.0, 2.0, 2.0]);
        assert_eq!((s.mean, s.min, s.max), (2.0, 1.0, 3.0));
        assert!((s.std - 0.5f64.sqrt()).abs() < 1e-12);
        let names: Vec<String> = ["TEXT", "PHI", "MIXED"].map(String::from).into();
        assert_eq!(
            action_remark(&names, &w.action_shares()),
            "dominated by TEXT (50%)"
        );
        assert_eq!(action_remark(&names, &[40.0, 30.0, 30.0]), "balanced");
        assert_eq!(
            action_remark(&names, &[50.0, 50.0, 0.0]),
            "MIXED never chosen: not explored"
        );
    }

    #[test]
    fn progress_eta_scales_elapsed_time() {
        let p = Progress {
            done: 250,
            total: 1000,
            num_timesteps: 30250,
            elapsed: 60.0,
        };
        let line = p.line();
        assert!(line.contains(" 25.0%"), "{line}");
        assert!(line.contains("ETA 0:03:00"), "{line}");
        assert!(line.contains("counter 30250"), "{line}");
        assert_eq!(clock(3725.0), "1:02:05");
    }
}
