#!/usr/bin/env python3
"""PyTorch-from-Python peer of `proxima bench tensor` and `proxima bench nn`: the same measurements on the same
machine, then the ratios against Proxima's JSON line.

Usage: Benchmarks/peers/torch_ops.py [tensor|nn] [--threads N] [--proxima PATH] [--scale S]
Runs in the peers' venv (Benchmarks/peers/peer_venv.py: torch 2.15.0, outside the clone), installing it once when missing.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_venv import TORCH, ensure  # noqa: E402


def ensure_torch():
    ensure([TORCH, "numpy"], ["torch"])


def fastest(rounds, iterations, body):
    for _ in range(max(1, iterations // 10)):
        body()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(iterations):
            body()
        best = min(best, time.perf_counter() - start)
    return best


def measure(scale):
    import torch

    n = lambda base: max(1, int(base * scale))
    g = torch.Generator().manual_seed(0)
    small = torch.randn(64, 4, generator=g)
    op_iterations = n(20000)
    op = fastest(5, op_iterations, lambda: small.tanh())

    x = torch.randn(64, 4, generator=g)
    def param(*shape):
        return (torch.randn(*shape, generator=g) * 0.1).requires_grad_()
    w1, b1, w2, b2, w3, b3 = param(64, 4), param(64), param(64, 64), param(64), param(2, 64), param(2)
    params = [w1, b1, w2, b2, w3, b3]
    F = torch.nn.functional

    def step():
        for p in params:
            p.grad = None
        h1 = F.linear(x, w1, b1).tanh()
        h2 = F.linear(h1, w2, b2).tanh()
        out = F.linear(h2, w3, b3)
        out.square().mean().backward()

    mlp_iterations = n(2000)
    mlp = fastest(5, mlp_iterations, step)

    a = torch.randn(512, 512, generator=g)
    b = torch.randn(512, 512, generator=g)
    mm_iterations = n(50)
    mm = fastest(5, mm_iterations, lambda: a @ b)

    # The measurement of shared/peers/torch_attention.py: causal SDPA forward + backward on [4, 8, 128, 64].
    q, k, v = (torch.randn(4, 8, 128, 64, generator=g).requires_grad_() for _ in range(3))

    def attention():
        F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()

    attention_iterations = n(50)
    attn = fastest(5, attention_iterations, attention)
    return {
        "op_overhead_us": op / op_iterations * 1e6,
        "mlp_step_us": mlp / mlp_iterations * 1e6,
        "matmul_gflops": 2 * 512 ** 3 * mm_iterations / mm / 1e9,
        "attention_us": attn / attention_iterations * 1e6,
    }


def measure_nn(scale):
    import torch

    g = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(512, 1024), torch.nn.Tanh(), torch.nn.Linear(1024, 512))
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=g)
    adam = torch.optim.Adam(model.parameters(), lr=1e-3)
    iterations = max(1, int(200 * scale))
    seconds = fastest(5, iterations, adam.step)
    return {"adam_step_ms": seconds / iterations * 1e3, "parameters": sum(p.numel() for p in model.parameters())}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", nargs="?", choices=["tensor", "nn"], default="tensor")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--proxima", default=os.path.join(ROOT, ".build", "release", "proxima"))
    args = parser.parse_args()
    ensure_torch()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()

    if not os.path.exists(args.proxima):
        print("building proxima (release) ...", flush=True)
        subprocess.run(["swift", "build", "-c", "release", "--product", "proxima"], cwd=ROOT, check=True)
    command = [args.proxima, "bench", args.suite, "--threads", str(threads), "--scale", str(args.scale)]
    ours = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    if args.suite == "nn":
        peer = measure_nn(args.scale)
        ratio = peer["adam_step_ms"] / ours["adam_step_ms"]
        print(f"threads: {threads}   PyTorch {torch.__version__} (Python)   vs   Proxima")
        print(f"Adam step on {ours['parameters']} parameters: Proxima {ours['adam_step_ms']:.3f} ms, "
              f"PyTorch {peer['adam_step_ms']:.3f} ms, PyTorch/Proxima {ratio:.2f}x")
        print(json.dumps({"threads": threads, "proxima": ours, "pytorch": peer, "speedup_adam": ratio}, sort_keys=True))
        return
    peer = measure(args.scale)

    print(f"threads: {threads}   PyTorch {torch.__version__} (Python)   vs   Proxima (libtorch {ours.get('libtorch', '2.15.0')})")
    print(f"{'measure':<18}{'Proxima':>12}{'PyTorch':>12}{'ratio':>10}  target")
    rows = [
        ("op_overhead_us", "PyTorch/Proxima", peer["op_overhead_us"] / ours["op_overhead_us"], "Proxima <= 2 us"),
        ("mlp_step_us", "PyTorch/Proxima", peer["mlp_step_us"] / ours["mlp_step_us"], ">= 2x faster"),
        ("matmul_gflops", "Proxima/PyTorch", ours["matmul_gflops"] / peer["matmul_gflops"], ">= 0.9"),
        ("attention_us", "PyTorch/Proxima", peer["attention_us"] / ours["attention_us"], ">= 0.91 (time <= 1.1x PyTorch's)"),
    ]
    for key, _, ratio, target in rows:
        print(f"{key:<18}{ours[key]:>12.2f}{peer[key]:>12.2f}{ratio:>9.2f}x  {target}")
    print(json.dumps({"threads": threads, "proxima": ours, "pytorch": peer,
                      "speedup_op": rows[0][2], "speedup_mlp": rows[1][2], "matmul_ratio": rows[2][2],
                      "attention_ratio": rows[3][2]}, sort_keys=True))


if __name__ == "__main__":
    main()
