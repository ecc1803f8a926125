//! The schedules `compare_schedules` runs: fixed ones, random, round-robin, the band rule and a
//! trained agent.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::{Result, RlError};
use crate::ppo::Ppo;

/// A schedule of TEXT/PHI/MIXED decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Always TEXT.
    Text,
    /// Always PHI.
    Phi,
    /// Always MIXED.
    Mixed,
    /// A uniformly random action each decision (seeded by the run's seed).
    Random,
    /// The actions in turn.
    RoundRobin,
    /// PHI while PHI is below the band, TEXT otherwise (inside or above it).
    BandRule,
    /// A trained agent's deterministic policy.
    Agent,
}

impl Policy {
    /// Every policy, in the order of the command line's default.
    pub const ALL: [Policy; 7] = [
        Policy::Text,
        Policy::Phi,
        Policy::Mixed,
        Policy::Random,
        Policy::RoundRobin,
        Policy::BandRule,
        Policy::Agent,
    ];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Text => "text",
            Policy::Phi => "phi",
            Policy::Mixed => "mixed",
            Policy::Random => "random",
            Policy::RoundRobin => "round-robin",
            Policy::BandRule => "band-rule",
            Policy::Agent => "agent",
        }
    }
}

impl std::str::FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Policy::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                format!("{s:?}: expected text, phi, mixed, random, round-robin, band-rule or agent")
            })
    }
}

/// Indices of the TEXT, PHI and MIXED actions in an environment's action list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionIndex {
    pub text: usize,
    pub phi: usize,
    pub mixed: usize,
}

impl ActionIndex {
    /// Finds the actions by name (case-insensitive) in `names`.
    pub fn find(names: &[String]) -> Result<Self> {
        let find = |want: &str| {
            names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(want))
                .ok_or_else(|| {
                    RlError::Env(format!(
                        "the environment has no {want} action (it has {})",
                        names.join(", ")
                    ))
                })
        };
        Ok(Self {
            text: find("TEXT")?,
            phi: find("PHI")?,
            mixed: find("MIXED")?,
        })
    }
}

/// A policy playing one run: its state (random stream) and what it needs to decide.
pub struct Chooser<'a> {
    policy: Policy,
    actions: ActionIndex,
    n_actions: usize,
    band: [f64; 2],
    rng: StdRng,
    agent: Option<&'a Ppo>,
}

impl<'a> Chooser<'a> {
    /// `policy` over `n_actions` actions; `band` is the PHI band of the band rule, `seed` the
    /// random policy's seed, `agent` the agent of [`Policy::Agent`].
    pub fn new(
        policy: Policy,
        actions: ActionIndex,
        n_actions: usize,
        band: [f64; 2],
        seed: u64,
        agent: Option<&'a Ppo>,
    ) -> Result<Self> {
        if policy == Policy::Agent && agent.is_none() {
            return Err(RlError::flag(
                "--policies",
                "agent",
                "an --agent checkpoint for the agent policy",
            ));
        }
        Ok(Self {
            policy,
            actions,
            n_actions,
            band,
            rng: StdRng::seed_from_u64(seed),
            agent,
        })
    }

    /// The action of decision `decision` (0-based), seeing observation `obs` and current `phi`.
    pub fn choose(&mut self, decision: usize, obs: &[f32], phi: f64) -> Result<usize> {
        Ok(match self.policy {
            Policy::Text => self.actions.text,
            Policy::Phi => self.actions.phi,
            Policy::Mixed => self.actions.mixed,
            Policy::Random => self.rng.random_range(0..self.n_actions),
            Policy::RoundRobin => decision % self.n_actions,
            Policy::BandRule => {
                if phi < self.band[0] {
                    self.actions.phi
                } else {
                    self.actions.text
                }
            }
            Policy::Agent => match self.agent {
                Some(agent) => agent.predict(obs, true)?,
                None => unreachable!("checked in Chooser::new"),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chooser(policy: Policy) -> Chooser<'static> {
        let actions = ActionIndex {
            text: 0,
            phi: 1,
            mixed: 2,
        };
        Chooser::new(policy, actions, 3, [3.0, 6.0], 7, None).unwrap()
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for p in Policy::ALL {
            assert_eq!(p.name().parse::<Policy>().unwrap(), p);
        }
        assert!("always-text".parse::<Policy>().is_err());
    }

    #[test]
    fn the_band_rule_picks_phi_below_the_band_and_text_elsewhere() {
        let mut c = chooser(Policy::BandRule);
        assert_eq!(c.choose(0, &[], 2.9).unwrap(), 1);
        assert_eq!(c.choose(1, &[], 4.0).unwrap(), 0);
        assert_eq!(c.choose(2, &[], 9.0).unwrap(), 0);
    }

    #[test]
    fn fixed_round_robin_and_random_schedules() {
        let mut mixed = chooser(Policy::Mixed);
        assert!((0..5).all(|d| mixed.choose(d, &[], 0.0).unwrap() == 2));
        let mut rr = chooser(Policy::RoundRobin);
        let order: Vec<usize> = (0..6).map(|d| rr.choose(d, &[], 0.0).unwrap()).collect();
        assert_eq!(order, [0, 1, 2, 0, 1, 2]);
        let draw = |seed| {
            let mut c = chooser(Policy::Random);
            c.rng = StdRng::seed_from_u64(seed);
            (0..60)
                .map(|d| c.choose(d, &[], 0.0).unwrap())
                .collect::<Vec<_>>()
        };
        let a = draw(1);
        assert_eq!(a, draw(1), "a seed gives one schedule");
        assert!((0..3).all(|k| a.contains(&k)), "every action is drawn");
        assert!(Chooser::new(
            Policy::Agent,
            chooser(Policy::Text).actions,
            3,
            [3.0, 6.0],
            0,
            None
        )
        .is_err());
        assert!(ActionIndex::find(&["TEXT".into(), "PHI".into()]).is_err());
    }
}
