#!/usr/bin/env python3
"""Stable-Baselines3 peer of `proxima bench learn --sb3-zoo`: trains one RL Zoo entry with SB3 and evaluates it as
RL Zoo does, so both libraries run the same entry on this machine.

The entry is read from Proxima's shipped hyperparameter file (Sources/ReinforcementLearning/Resources/hyperparams/
<algo>.yml), which holds RL Zoo's entries unchanged, so both sides read the same settings: `normalize` wraps the
training vector in VecNormalize (with the entry's gamma, as RL Zoo does); evaluation runs 10 deterministic episodes on
a fresh environment whose VecNormalize copy has frozen statistics and raw rewards.

Usage: Benchmarks/peers/sb3_zoo.py --algo ppo --env Pendulum-v1 --seed 0 [--threads 1] [--steps N] [--episodes 10]
Prints one JSON line: {"algo", "env", "seed", "steps", "seconds", "steps_per_second", "mean_return", "std_return"}.
Installs stable-baselines3 into the peers' venv (peer_venv.py, outside the clone) when missing.
"""
import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_venv import TORCH, ensure  # noqa: E402


def schedule(value):
    """RL Zoo's `lin_<v>`: v times the remaining progress; numbers stay constant."""
    if isinstance(value, str) and value.startswith("lin_"):
        start = float(value[4:])
        return lambda remaining: remaining * start
    return float(value) if isinstance(value, (int, float)) else value


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", choices=["ppo", "a2c"], required=True)
    parser.add_argument("--env", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, help="environment steps (default: the entry's n_timesteps)")
    parser.add_argument("--episodes", type=int, default=10)
    args = parser.parse_args()
    ensure([TORCH, "stable-baselines3"], ["stable_baselines3"])
    import torch
    import yaml
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(args.threads)
    path = os.path.join(ROOT, "Sources", "ReinforcementLearning", "Resources", "hyperparams", f"{args.algo}.yml")
    with open(path) as f:
        entry = dict(yaml.safe_load(f)[args.env])
    n_envs = int(entry.pop("n_envs", 1))
    steps = args.steps or int(float(entry.pop("n_timesteps")))
    entry.pop("n_timesteps", None)
    policy = entry.pop("policy", "MlpPolicy")
    normalize = bool(entry.pop("normalize", False))
    policy_kwargs = dict(entry.pop("policy_kwargs", {}) or {})
    if "activation_fn" in policy_kwargs:
        policy_kwargs["activation_fn"] = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[policy_kwargs["activation_fn"].lower()]
    for key in ("learning_rate", "clip_range"):
        if key in entry:
            entry[key] = schedule(entry[key])

    env = make_vec_env(args.env, n_envs=n_envs, seed=args.seed)
    if normalize:
        env = VecNormalize(env, gamma=entry.get("gamma", 0.99))
    algorithm = {"ppo": PPO, "a2c": A2C}[args.algo]
    model = algorithm(policy, env, seed=args.seed, verbose=0, device="cpu", policy_kwargs=policy_kwargs, **entry)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    seconds = time.perf_counter() - start

    eval_env = make_vec_env(args.env, n_envs=1, seed=args.seed + 1_000_000)
    if normalize:
        eval_env = VecNormalize(eval_env, training=False, norm_reward=False, gamma=entry.get("gamma", 0.99))
        eval_env.obs_rms = env.obs_rms
    mean, std = evaluate_policy(model, eval_env, n_eval_episodes=args.episodes, deterministic=True)
    print(json.dumps({"algo": args.algo, "env": args.env, "seed": args.seed, "steps": int(model.num_timesteps),
                      "seconds": seconds, "steps_per_second": model.num_timesteps / seconds, "mean_return": float(mean),
                      "std_return": float(std), "threads": torch.get_num_threads()}, sort_keys=True))


if __name__ == "__main__":
    main()
