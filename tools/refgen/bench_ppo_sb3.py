"""Times one PPO cycle with stable-baselines3, the counterpart of infinito-rl's criterion bench
`benches/ppo_cycle.rs`: a rollout of 2048 steps in an environment that costs almost nothing
(observations of 6 numbers, 3 actions, reward 1 when the action is the argmax of the first three
features, episodes truncated at 200 steps), then an update of 10 epochs x 32 minibatches of 64,
with separate 128-128 tanh actor and critic networks (the original scheduler's PPO), on CPU.

Usage: python tools/refgen/bench_ppo_sb3.py [--threads N] [--repeats R]
(threads: torch intra-op threads, default torch's own choice)
"""

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3 import PPO


class CheapEnv(gym.Env):
    def __init__(self):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)
        self.action_space = gym.spaces.Discrete(3)
        self.t = 0
        self.obs = None

    def _observe(self):
        self.obs = np.sin(0.37 * self.t + 1.3 * np.arange(6)).astype(np.float32)
        return self.obs

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._observe(), {}

    def step(self, action):
        reward = float(int(action) == int(np.argmax(self.obs[:3])))
        self.t += 1
        return self._observe(), reward, False, self.t % 200 == 0, {}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.threads is not None:
        th.set_num_threads(args.threads)
    model = PPO(
        "MlpPolicy",
        CheapEnv(),
        ent_coef=0.01,
        policy_kwargs=dict(net_arch=dict(pi=[128, 128], vf=[128, 128])),
        seed=0,
        device="cpu",
    )
    model.learn(2048)  # warm-up cycle
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        model.learn(2048, reset_num_timesteps=False)
        times.append(time.perf_counter() - start)
    print(f"torch threads: {th.get_num_threads()}")
    print(f"cycle seconds: {[round(t, 3) for t in times]}")
    print(f"median cycle: {statistics.median(times):.3f} s")


if __name__ == "__main__":
    main()
