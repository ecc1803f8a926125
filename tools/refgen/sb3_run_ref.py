"""A tiny run folder as the original scheduler writes it, made by stable-baselines3 itself.

Trains PPO (MlpPolicy, net_arch [8, 8]) on a toy environment with the scheduler's spaces
(observation Box(6) in the original's bounds, Discrete(3)) for 96 steps with the original's
callbacks, scaled down:

  CheckpointCallback(save_freq=32, save_path=<run>/checkpoints, name_prefix="ppo_infinito_scheduler")
  EvalCallback(eval_env, best_model_save_path=<run>/best_model, log_path=<run>/eval_logs,
               eval_freq=32, n_eval_episodes=3, deterministic=True)

then saves <run>/ppo_infinito_scheduler_final.zip, as the original's training script does. The
folder holds checkpoints/ppo_infinito_scheduler_{32,64,96}_steps.zip, eval_logs/evaluations.npz,
best_model/best_model.zip and the final zip. Beside it, sb3_run_expected.json holds what SB3
reads back: the arrays of evaluations.npz, each agent's num_timesteps, and the action
probabilities, values and deterministic actions of each agent on the probe observations of
`infinito_rl::analysis::original::PROBES`.

Usage: python tools/refgen/sb3_run_ref.py [OUT_DIR]
(default OUT_DIR: crates/infinito-rl/tests/fixtures; the run goes to OUT_DIR/sb3_run)
"""

import json
import os
import shutil
import sys

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "..", "crates", "infinito-rl", "tests", "fixtures")

PROBES = [
    [0.45, 4.5, 4.2, 0.4, 0.1, 0.05],
    [0.65, 6.5, 3.9, 0.0, 0.2, 0.5],
    [0.25, 2.5, 5.0, 1.0, 0.0, 1.0],
]


class SchedulerLikeEnv(gym.Env):
    """The scheduler's spaces; reward 1 when the action is the argmax of obs[1:4]; 8 steps."""

    def __init__(self):
        low = np.zeros(6, np.float32)
        high = np.array([1, 10, 20, 20, 1, 1], np.float32)
        self.observation_space = gym.spaces.Box(low, high, (6,), np.float32)
        self.action_space = gym.spaces.Discrete(3)
        self.t = 0
        self.obs = None

    def _draw(self):
        high = self.observation_space.high
        self.obs = (self.np_random.uniform(size=6) * high).astype(np.float32)
        return self.obs

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._draw(), {}

    def step(self, action):
        reward = float(int(action) == int(np.argmax(self.obs[1:4])))
        self.t += 1
        return self._draw(), reward, self.t >= 8, False, {}


def floats(t):
    return [float(str(v)) for v in t.detach().cpu().numpy().astype(np.float32).reshape(-1)]


def agent_fixture(path):
    model = PPO.load(path, device="cpu")
    obs = np.array(PROBES, np.float32)
    with th.no_grad():
        probs = model.policy.get_distribution(th.as_tensor(obs)).distribution.probs
        values = model.policy.predict_values(th.as_tensor(obs)).flatten()
    actions, _ = model.predict(obs, deterministic=True)
    return {
        "num_timesteps": int(model.num_timesteps),
        "probs": [floats(p) for p in probs],
        "values": floats(values),
        "actions": [int(a) for a in actions],
    }


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    run = os.path.join(out, "sb3_run")
    shutil.rmtree(run, ignore_errors=True)
    os.makedirs(run)
    th.manual_seed(0)
    th.set_num_threads(1)
    model = PPO(
        "MlpPolicy",
        SchedulerLikeEnv(),
        n_steps=32,
        batch_size=16,
        n_epochs=2,
        policy_kwargs=dict(net_arch=dict(pi=[8, 8], vf=[8, 8])),
        seed=7,
        device="cpu",
    )
    callbacks = [
        CheckpointCallback(
            save_freq=32,
            save_path=os.path.join(run, "checkpoints"),
            name_prefix="ppo_infinito_scheduler",
        ),
        EvalCallback(
            SchedulerLikeEnv(),
            best_model_save_path=os.path.join(run, "best_model"),
            log_path=os.path.join(run, "eval_logs"),
            eval_freq=32,
            n_eval_episodes=3,
            deterministic=True,
        ),
    ]
    model.learn(96, callback=callbacks)
    final = os.path.join(run, "ppo_infinito_scheduler_final.zip")
    model.save(final)

    npz = np.load(os.path.join(run, "eval_logs", "evaluations.npz"))
    checkpoints = sorted(os.listdir(os.path.join(run, "checkpoints")))
    expected = {
        "evaluations": {
            "timesteps": npz["timesteps"].tolist(),
            "results": npz["results"].tolist(),
            "ep_lengths": npz["ep_lengths"].tolist(),
        },
        "checkpoints": checkpoints,
        "agents": {
            "final": agent_fixture(final),
            "best_model": agent_fixture(os.path.join(run, "best_model", "best_model.zip")),
        },
    }
    with open(os.path.join(out, "sb3_run_expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print(f"wrote {run} and sb3_run_expected.json")


if __name__ == "__main__":
    main()
