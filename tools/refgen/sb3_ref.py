"""Reference fixtures for infinito-rl's PPO, made with stable-baselines3, torch and gymnasium.

Writes into crates/infinito-rl/tests/fixtures/:

  sb3_small.zip          an SB3 PPO agent (obs Box(6), Discrete(3), net_arch pi/vf [16, 16],
                         non-default hyper-parameters, linear clip-range schedule, weights
                         perturbed away from the initialisation, 128 steps learned)
  sb3_default.zip        an SB3 PPO agent with the original scheduler's settings (net_arch in the
                         old list form [dict(pi=[128, 128], vf=[128, 128])], 2048 steps learned)
  sb3_expected.json      for each zip: its hyper-parameters as SB3 holds them, observations, the
                         action probabilities, values and deterministic actions SB3 computes
  ppo_update_ref.json    two PPO minibatch updates of the small policy done with SB3's own
                         policy (evaluate_actions), the loss of PPO.train(), clip_grad_norm_ and
                         torch Adam (eps 1e-5): weights before, minibatches, loss terms, the
                         pre-clip gradients and norm, weights after each step; once without and
                         once with value clipping
  gae_ref.json           SB3 RolloutBuffer.compute_returns_and_advantage on hand-picked rewards,
                         values and episode starts (last step done and not done)
  cartpole_ref.json      gymnasium CartPole-v1: a random-action episode with every state, and a
                         balancing controller's episode reaching the 500-step time limit (its
                         actions and states)

Usage: python tools/refgen/sb3_ref.py [OUT_DIR]
"""

import json
import os
import sys

import gymnasium as gym
import numpy as np
import torch as th
import torch.nn.functional as F
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.utils import LinearSchedule

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "..", "crates", "infinito-rl", "tests", "fixtures")


class ToyEnv(gym.Env):
    """Obs: 6 normal numbers; reward 1 when the action is the argmax of the first three; 20 steps."""

    def __init__(self):
        self.observation_space = gym.spaces.Box(-10.0, 10.0, (6,), np.float32)
        self.action_space = gym.spaces.Discrete(3)
        self.t = 0
        self.obs = None

    def _draw(self):
        self.obs = self.np_random.normal(size=6).astype(np.float32)
        return self.obs

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._draw(), {}

    def step(self, action):
        reward = float(int(action) == int(np.argmax(self.obs[:3])))
        self.t += 1
        return self._draw(), reward, False, self.t >= 20, {}


def floats(t):
    # The shortest decimal that reads back as the same float32.
    return [float(str(v)) for v in t.detach().cpu().numpy().astype(np.float32).reshape(-1)]


def policy_outputs(model, obs):
    policy = model.policy
    obs_t = th.as_tensor(obs)
    with th.no_grad():
        probs = policy.get_distribution(obs_t).distribution.probs
        values = policy.predict_values(obs_t).flatten()
    actions, _ = model.predict(obs, deterministic=True)
    return {
        "observations": obs.tolist(),
        "probs": [floats(p) for p in probs],
        "values": floats(values),
        "deterministic_actions": [int(a) for a in actions],
    }


def hyper_parameters(model):
    return {
        "learning_rate": float(model.lr_schedule(1.0)),
        "clip_range_start": float(model.clip_range(1.0)),
        "clip_range_mid": float(model.clip_range(0.5)),
        "clip_range_vf": None if model.clip_range_vf is None else float(model.clip_range_vf(1.0)),
        "n_steps": model.n_steps,
        "batch_size": model.batch_size,
        "n_epochs": model.n_epochs,
        "gamma": model.gamma,
        "gae_lambda": model.gae_lambda,
        "ent_coef": model.ent_coef,
        "vf_coef": model.vf_coef,
        "max_grad_norm": model.max_grad_norm,
        "normalize_advantage": model.normalize_advantage,
        "target_kl": model.target_kl,
        "num_timesteps": model.num_timesteps,
        "n_updates": model._n_updates,
        "seed": model.seed,
    }


def small_model():
    model = PPO(
        "MlpPolicy",
        ToyEnv(),
        learning_rate=5e-4,
        n_steps=64,
        batch_size=16,
        n_epochs=3,
        gamma=0.98,
        gae_lambda=0.9,
        clip_range=LinearSchedule(0.3, 0.1, 1.0),
        clip_range_vf=0.5,
        ent_coef=0.005,
        vf_coef=0.4,
        max_grad_norm=0.7,
        policy_kwargs=dict(net_arch=dict(pi=[16, 16], vf=[16, 16])),
        seed=7,
    )
    gen = th.Generator().manual_seed(11)
    with th.no_grad():
        for p in model.policy.parameters():
            p.add_(th.randn(p.shape, generator=gen) * 0.3)
    model.learn(128)
    return model


def default_model():
    # The original scheduler's construction (list-form net_arch, SB3 defaults otherwise).
    model = PPO(
        "MlpPolicy",
        ToyEnv(),
        learning_rate=3e-4,
        policy_kwargs=dict(net_arch=[dict(pi=[128, 128], vf=[128, 128])]),
        seed=42,
    )
    model.learn(2048)
    return model


def sb3_fixtures(out):
    rng = np.random.default_rng(5)
    expected = {}
    for name, build in [("sb3_small", small_model), ("sb3_default", default_model)]:
        model = build()
        model.save(os.path.join(out, f"{name}.zip"))
        obs = (rng.normal(size=(12, 6)) * 1.5).astype(np.float32)
        expected[name] = {"hyper_parameters": hyper_parameters(model), **policy_outputs(model, obs)}
    return expected


def sb3_minibatch_loss(policy, batch, clip_range, clip_range_vf, ent_coef, vf_coef):
    """One minibatch of PPO.train() (stable_baselines3/ppo/ppo.py), line for line."""
    values, log_prob, entropy = policy.evaluate_actions(batch["observations"], batch["actions"])
    values = values.flatten()
    advantages = batch["advantages"]
    if len(advantages) > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    ratio = th.exp(log_prob - batch["old_log_prob"])
    policy_loss_1 = advantages * ratio
    policy_loss_2 = advantages * th.clamp(ratio, 1 - clip_range, 1 + clip_range)
    policy_loss = -th.min(policy_loss_1, policy_loss_2).mean()
    clip_fraction = th.mean((th.abs(ratio - 1) > clip_range).float()).item()
    if clip_range_vf is None:
        values_pred = values
    else:
        values_pred = batch["old_values"] + th.clamp(
            values - batch["old_values"], -clip_range_vf, clip_range_vf
        )
    value_loss = F.mse_loss(batch["returns"], values_pred)
    entropy_loss = -th.mean(entropy)
    loss = policy_loss + ent_coef * entropy_loss + vf_coef * value_loss
    with th.no_grad():
        log_ratio = log_prob - batch["old_log_prob"]
        approx_kl = th.mean((th.exp(log_ratio) - 1) - log_ratio).item()
    stats = {
        "policy_loss": policy_loss.item(),
        "value_loss": value_loss.item(),
        "entropy_loss": entropy_loss.item(),
        "loss": loss.item(),
        "approx_kl": approx_kl,
        "clip_fraction": clip_fraction,
    }
    return loss, stats


def make_minibatch(policy, gen, size):
    obs = th.randn((size, 6), generator=gen) * 1.5
    actions = th.randint(0, 3, (size,), generator=gen)
    with th.no_grad():
        values, log_prob, _ = policy.evaluate_actions(obs, actions)
    # Old log-probabilities and values away from the current ones, so that some ratios and value
    # differences fall outside the clip ranges.
    old_log_prob = log_prob + th.randn((size,), generator=gen) * 0.3
    old_values = values.flatten() + th.randn((size,), generator=gen) * 0.3
    return {
        "observations": obs,
        "actions": actions,
        "old_log_prob": old_log_prob,
        "old_values": old_values,
        "advantages": th.randn((size,), generator=gen) * 2.0,
        "returns": th.randn((size,), generator=gen) * 3.0,
    }


def batch_json(batch):
    return {
        "observations": [floats(o) for o in batch["observations"]],
        "actions": [int(a) for a in batch["actions"]],
        "old_log_prob": floats(batch["old_log_prob"]),
        "old_values": floats(batch["old_values"]),
        "advantages": floats(batch["advantages"]),
        "returns": floats(batch["returns"]),
    }


def params_json(policy):
    return {n: floats(p) for n, p in policy.state_dict().items()}


def update_fixture():
    model = small_model()
    policy = model.policy
    lr, max_grad_norm, ent_coef, vf_coef, clip_range = 3e-4, 0.5, 0.01, 0.5, 0.2
    cases = []
    for clip_range_vf in [None, 0.1]:
        start = {n: p.detach().clone() for n, p in policy.state_dict().items()}
        optimizer = th.optim.Adam(policy.parameters(), lr=lr, eps=1e-5)
        gen = th.Generator().manual_seed(21)
        case = {"clip_range_vf": clip_range_vf, "initial": params_json(policy), "steps": []}
        for size in [8, 5]:
            batch = make_minibatch(policy, gen, size)
            loss, stats = sb3_minibatch_loss(policy, batch, clip_range, clip_range_vf, ent_coef, vf_coef)
            optimizer.zero_grad()
            loss.backward()
            grads = {n: floats(p.grad) for n, p in policy.named_parameters()}
            norm = th.nn.utils.clip_grad_norm_(policy.parameters(), max_grad_norm)
            optimizer.step()
            case["steps"].append(
                {
                    "batch": batch_json(batch),
                    "stats": stats,
                    "grads": grads,
                    "grad_norm": float(norm),
                    "after": params_json(policy),
                }
            )
        cases.append(case)
        policy.load_state_dict(start)
    return {
        "obs_dim": 6,
        "n_actions": 3,
        "net_arch": [16, 16],
        "learning_rate": lr,
        "max_grad_norm": max_grad_norm,
        "ent_coef": ent_coef,
        "vf_coef": vf_coef,
        "clip_range": clip_range,
        "cases": cases,
    }


def gae_fixture():
    space_obs = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    space_act = gym.spaces.Discrete(2)
    rewards = [1.0, 0.5, -1.0, 2.0, 0.0, 1.5, 0.25, -0.5]
    values = [0.3, -0.2, 0.8, 1.1, -0.4, 0.6, 0.0, 0.9]
    starts = [1, 0, 0, 1, 0, 0, 0, 1]
    cases = []
    for last_value, last_done in [(0.7, False), (0.7, True)]:
        buffer = RolloutBuffer(len(rewards), space_obs, space_act, gamma=0.9, gae_lambda=0.8, n_envs=1)
        for r, v, s in zip(rewards, values, starts):
            buffer.add(
                np.zeros((1, 1), np.float32),
                np.zeros((1, 1)),
                np.array([r], np.float32),
                np.array([s], np.float32),
                th.tensor([v]),
                th.tensor([0.0]),
            )
        buffer.compute_returns_and_advantage(th.tensor([last_value]), np.array([last_done]))
        cases.append(
            {
                "last_value": last_value,
                "last_done": last_done,
                "advantages": [float(a) for a in buffer.advantages.flatten()],
                "returns": [float(r) for r in buffer.returns.flatten()],
            }
        )
    return {
        "gamma": 0.9,
        "gae_lambda": 0.8,
        "rewards": rewards,
        "values": values,
        "episode_starts": [bool(s) for s in starts],
        "cases": cases,
    }


def balancing_action(state):
    x, x_dot, theta, theta_dot = state
    return int(theta + 0.5 * theta_dot + 0.01 * x + 0.1 * x_dot > 0)


def cartpole_fixture():
    env = gym.make("CartPole-v1")
    _, _ = env.reset(seed=123)
    initial = [float(v) for v in env.unwrapped.state]
    rng = np.random.default_rng(9)
    steps = []
    while True:
        action = int(rng.integers(0, 2))
        obs, reward, terminated, truncated, _ = env.step(action)
        steps.append(
            {
                "action": action,
                "state": [float(v) for v in env.unwrapped.state],
                "observation": [float(v) for v in obs],
                "reward": float(reward),
                "terminated": bool(terminated),
                "truncated": bool(truncated),
            }
        )
        if terminated or truncated:
            break
    _, _ = env.reset(seed=4)
    balanced_initial = [float(v) for v in env.unwrapped.state]
    length, total, actions, states = 0, 0.0, [], []
    while True:
        action = balancing_action(env.unwrapped.state)
        obs, reward, terminated, truncated, _ = env.step(action)
        actions.append(action)
        states.append([float(v) for v in env.unwrapped.state])
        length += 1
        total += reward
        if terminated or truncated:
            break
    assert truncated and not terminated and length == 500, (length, terminated)
    return {
        "random_episode": {"initial_state": initial, "steps": steps},
        "balanced_episode": {
            "initial_state": balanced_initial,
            "controller": "action = theta + 0.5 theta_dot + 0.01 x + 0.1 x_dot > 0",
            "length": length,
            "return": total,
            "actions": actions,
            "states": states,
            "terminated": bool(terminated),
            "truncated": bool(truncated),
        },
    }


def write_json(path, value, indent=1):
    with open(path, "w") as f:
        json.dump(value, f, indent=indent)
        f.write("\n")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    os.makedirs(out, exist_ok=True)
    th.use_deterministic_algorithms(True)
    th.set_num_threads(1)
    write_json(os.path.join(out, "sb3_expected.json"), sb3_fixtures(out))
    write_json(os.path.join(out, "ppo_update_ref.json"), update_fixture(), indent=None)
    write_json(os.path.join(out, "gae_ref.json"), gae_fixture())
    write_json(os.path.join(out, "cartpole_ref.json"), cartpole_fixture(), indent=None)


if __name__ == "__main__":
    main()
