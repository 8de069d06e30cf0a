#!/usr/bin/env python3
"""Stable-Baselines3 peer of `proxima train ppo --env CartPole-v1`: both train PPO with RL Zoo's CartPole-v1
hyperparameters (8 envs, n_steps 32, batch 256, 20 epochs, gamma 0.98, lambda 0.8, lin_0.001 lr, lin_0.2 clip,
100k steps) on this machine, and the script prints training steps per second and wall time until the mean return of
the last 100 training episodes first reaches 475, for each and as ratios.

Usage: Benchmarks/peers/sb3_ppo.py [--threads N] [--seeds S ...] [--proxima PATH]
(--threads 0 = each library's default thread count). With several seeds it prints each seed and the medians: the time
to 475 depends on how many episodes a seed needs, in both libraries, so one seed says little about it. Installs
stable-baselines3 into the peers' venv (Benchmarks/peers/peer_venv.py, outside the clone) when missing.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_venv import TORCH, ensure  # noqa: E402

SOLVED = 475.0


def run_sb3(threads, seed, steps):
    import numpy as np
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    if threads:
        torch.set_num_threads(threads)

    def linear(value):
        return lambda progress_remaining: progress_remaining * value

    class Watch(BaseCallback):
        def __init__(self):
            super().__init__()
            self.solved_at = None
            self.start = time.perf_counter()

        def _on_step(self):
            buffer = self.model.ep_info_buffer
            if self.solved_at is None and len(buffer) > 0 and np.mean([e["r"] for e in buffer]) >= SOLVED:
                self.solved_at = time.perf_counter() - self.start
            return True

    env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
                learning_rate=linear(0.001), clip_range=linear(0.2), seed=seed, verbose=0, device="cpu")
    watch = Watch()
    start = time.perf_counter()
    model.learn(total_timesteps=steps, callback=watch)
    seconds = time.perf_counter() - start
    return {"sps": model.num_timesteps / seconds, "seconds": seconds, "time_to_475": watch.solved_at,
            "threads": torch.get_num_threads()}


def run_proxima(binary, threads, seed):
    out = tempfile.mkdtemp(prefix="proxima-bench-")
    command = [binary, "train", "ppo", "--env", "CartPole-v1", "--seed", str(seed), "--out", out, "--quiet", "--eval-episodes", "0"]
    if threads:
        command += ["--threads", str(threads)]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - start
    rows = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    first = rows[0]["wall_time"] - rows[0]["time/rollout_seconds"] - rows[0]["time/train_seconds"]
    solved = next((r["wall_time"] - first for r in rows if r.get("rollout/ep_rew_mean", 0) >= SOLVED), None)
    steps = rows[-1]["step"]
    seconds = rows[-1]["wall_time"] - first
    return {"sps": steps / seconds, "seconds": seconds, "time_to_475": solved, "process_seconds": wall}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--proxima", default=os.path.join(ROOT, ".build", "release", "proxima"))
    args = parser.parse_args()
    ensure([TORCH, "stable-baselines3"], ["stable_baselines3"])
    if not os.path.exists(args.proxima):
        subprocess.run(["swift", "build", "-c", "release", "--product", "proxima"], cwd=ROOT, check=True)
    fmt = lambda v: "not reached" if v is None else f"{v:.1f} s"
    runs = []
    print(f"PPO CartPole-v1, RL Zoo hyperparameters, threads {args.threads or 'default'}")
    print(f"{'seed':<6}{'':<22}{'Proxima':>14}{'SB3':>14}{'ratio':>10}")
    for seed in args.seeds:
        ours = run_proxima(args.proxima, args.threads, seed)
        peer = run_sb3(args.threads, seed, args.steps)
        sps = ours["sps"] / peer["sps"]
        solved = (peer["time_to_475"] / ours["time_to_475"]) if ours["time_to_475"] and peer["time_to_475"] else None
        runs.append({"seed": seed, "proxima": ours, "sb3": peer, "sps_ratio": sps, "time_to_475_ratio": solved})
        print(f"{seed:<6}{'training steps/s':<22}{ours['sps']:>14.0f}{peer['sps']:>14.0f}{sps:>9.1f}x")
        print(f"{'':<6}{'time to return 475':<22}{fmt(ours['time_to_475']):>14}{fmt(peer['time_to_475']):>14}"
              f"{(f'{solved:.1f}x' if solved else '-'):>10}", flush=True)
    sps_median = statistics.median(r["sps_ratio"] for r in runs)
    solved_ratios = [r["time_to_475_ratio"] for r in runs if r["time_to_475_ratio"]]
    solved_median = statistics.median(solved_ratios) if solved_ratios else None
    print(f"median over {len(runs)} seed(s): steps/s {sps_median:.1f}x, time to 475 "
          f"{f'{solved_median:.1f}x' if solved_median else '-'}")
    print(json.dumps({"runs": runs, "sps_ratio_median": sps_median, "time_to_475_ratio_median": solved_median,
                      "threads": args.threads}, sort_keys=True))


if __name__ == "__main__":
    main()
