//! CartPole-v1 against Gymnasium (`tools/refgen/sb3_ref.py`, `cartpole_ref.json`): a
//! random-action episode state by state, and a balancing controller's 500-step episode.

use infinito_rl::cartpole::MAX_EPISODE_STEPS;
use infinito_rl::{CartPole, Env};
use serde_json::Value;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/cartpole_ref.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn state(v: &Value) -> [f64; 4] {
    let s: Vec<f64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    [s[0], s[1], s[2], s[3]]
}

#[test]
fn random_episode_matches_gymnasium_step_by_step() {
    let fx = fixture();
    let episode = &fx["random_episode"];
    let mut env = CartPole::new(0);
    env.reset_to(state(&episode["initial_state"]));
    let steps = episode["steps"].as_array().unwrap();
    for (i, step) in steps.iter().enumerate() {
        let t = env.step(step["action"].as_u64().unwrap() as usize).unwrap();
        for (got, want) in env.state().iter().zip(state(&step["state"])) {
            assert!((got - want).abs() < 1e-12, "step {i}: {:?}", env.state());
        }
        for (got, want) in t.observation.iter().zip(state(&step["observation"])) {
            assert_eq!(f64::from(*got), want as f32 as f64, "step {i}");
        }
        assert_eq!(t.reward, step["reward"].as_f64().unwrap());
        assert_eq!(
            t.terminated,
            step["terminated"].as_bool().unwrap(),
            "step {i}"
        );
        assert_eq!(
            t.truncated,
            step["truncated"].as_bool().unwrap(),
            "step {i}"
        );
    }
    // The episode ended by termination (the pole fell) on the last step.
    assert!(steps.last().unwrap()["terminated"].as_bool().unwrap());
    let err = env.step(0).unwrap_err().to_string();
    assert!(err.contains("call reset"), "{err}");
}

#[test]
fn balanced_episode_matches_gymnasium_and_is_truncated_at_500_steps() {
    let fx = fixture();
    let episode = &fx["balanced_episode"];
    let actions = episode["actions"].as_array().unwrap();
    let states: Vec<[f64; 4]> = episode["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(state)
        .collect();
    // Every transition of Gymnasium's trajectory, one step at a time from its own state (over
    // 500 steps, last-bit differences of sin/cos could flip the controller's choice).
    let mut env = CartPole::new(0);
    let mut from = state(&episode["initial_state"]);
    for (i, (action, to)) in actions.iter().zip(&states).enumerate() {
        env.reset_to(from);
        env.step(action.as_u64().unwrap() as usize).unwrap();
        for (got, want) in env.state().iter().zip(to) {
            assert!(
                (got - want).abs() < 1e-12,
                "step {i}: {:?} vs {to:?}",
                env.state()
            );
        }
        from = *to;
    }
    // The same controller, run here: the time limit truncates the episode at step 500.
    env.reset_to(state(&episode["initial_state"]));
    let (mut length, mut total) = (0u64, 0.0);
    loop {
        let [x, x_dot, theta, theta_dot] = env.state();
        let action = usize::from(theta + 0.5 * theta_dot + 0.01 * x + 0.1 * x_dot > 0.0);
        let t = env.step(action).unwrap();
        length += 1;
        total += t.reward;
        if t.done() {
            assert!(t.truncated && !t.terminated);
            break;
        }
    }
    assert_eq!(length, MAX_EPISODE_STEPS);
    assert_eq!(length, episode["length"].as_u64().unwrap());
    assert_eq!(total, episode["return"].as_f64().unwrap());
    assert!(episode["truncated"].as_bool().unwrap() && !episode["terminated"].as_bool().unwrap());
}

#[test]
fn resets_are_seeded_and_within_bounds_and_bad_actions_are_errors() {
    let mut a = CartPole::new(3);
    let mut b = CartPole::new(99);
    let first = a.reset(Some(7)).unwrap();
    assert_eq!(b.reset(Some(7)).unwrap(), first);
    assert_ne!(a.reset(None).unwrap(), first);
    for _ in 0..100 {
        assert!(a
            .reset(None)
            .unwrap()
            .iter()
            .all(|v| (-0.05..0.05).contains(v)));
    }
    let err = a.step(2).unwrap_err().to_string();
    assert!(err.contains("action 2"), "{err}");
    assert_eq!((a.observation_dim(), a.n_actions()), (4, 2));
}
