#!/usr/bin/env python3
"""Gymnasium peer of `proxima bench envs`: CartPole-v1 steps per second with random actions, as a single env and as
SyncVectorEnv with 8 and 64 copies, next to Proxima's numbers, with the ratios.

Usage: Benchmarks/peers/gym_envs.py [--steps N] [--proxima PATH]
Runs in the peers' venv (Benchmarks/peers/peer_venv.py, outside the clone), installing gymnasium once when missing.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_venv import ensure  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100_000, help="environment steps per measurement (Gymnasium)")
    parser.add_argument("--proxima", default=os.path.join(ROOT, ".build", "release", "proxima"))
    args = parser.parse_args()
    ensure(["gymnasium"], ["gymnasium"])
    import gymnasium as gym
    import numpy as np

    if not os.path.exists(args.proxima):
        subprocess.run(["swift", "build", "-c", "release", "--product", "proxima"], cwd=ROOT, check=True)
    out = subprocess.run([args.proxima, "bench", "envs", "--steps", str(args.steps * 10)], check=True,
                         capture_output=True, text=True).stdout
    ours = json.loads(out.strip().splitlines()[-1])

    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    env.action_space.seed(0)
    start = time.perf_counter()
    for _ in range(args.steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    peer = {"cartpole_single_sps": args.steps / (time.perf_counter() - start)}
    for n in (8, 64):
        vec = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(n)])
        vec.reset(seed=0)
        vec.action_space.seed(0)
        iterations = max(1, args.steps // n)
        start = time.perf_counter()
        for _ in range(iterations):
            vec.step(vec.action_space.sample())
        peer[f"cartpole_vec{n}_sps"] = iterations * n / (time.perf_counter() - start)

    print(f"Gymnasium {gym.__version__} vs Proxima (steps per second, random actions)")
    print(f"{'measure':<22}{'Proxima':>14}{'Gymnasium':>14}{'ratio':>10}  target")
    ratios = {}
    for key in ("cartpole_single_sps", "cartpole_vec8_sps", "cartpole_vec64_sps"):
        ratios[key] = ours[key] / peer[key]
        print(f"{key:<22}{ours[key]:>14.0f}{peer[key]:>14.0f}{ratios[key]:>9.0f}x  >= 100x")
    print(json.dumps({"proxima": ours, "gymnasium": peer, "ratios": ratios}, sort_keys=True))


if __name__ == "__main__":
    main()
