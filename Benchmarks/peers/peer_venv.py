"""The one Python environment of the peer benchmarks, outside any clone so that every clone and CI run reuses it.

`PROXIMA_PEERS_VENV` when set; else /var/cache/proxima/peers-venv as root, ~/.cache/proxima/peers-venv otherwise.
torch is pinned to the libtorch version Proxima links (2.15.0), so both sides run the same kernels.
"""
import os
import subprocess
import sys

TORCH = "torch==2.15.0"


def location():
    if os.environ.get("PROXIMA_PEERS_VENV"):
        return os.environ["PROXIMA_PEERS_VENV"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/var/cache/proxima/peers-venv"
    return os.path.join(os.path.expanduser("~"), ".cache", "proxima", "peers-venv")


def ensure(requirements, modules):
    """Re-executes the calling script inside the peers' venv (creating it and installing `requirements` there)
    unless every module in `modules` is importable; exits 0 with a message when that is impossible."""
    try:
        for module in modules:
            __import__(module)
        return
    except ImportError:
        pass
    venv = location()
    python = os.path.join(venv, "bin", "python")
    script = os.path.basename(sys.argv[0])
    if os.environ.get("PROXIMA_IN_PEERS_VENV") == "1":
        print(f"{script}: {', '.join(modules)} not importable inside {venv}; skipping the comparison.")
        sys.exit(0)
    try:
        if not os.path.exists(python):
            os.makedirs(os.path.dirname(venv), exist_ok=True)
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        probe = "; ".join(f"import {m}" for m in modules)
        if subprocess.run([python, "-c", probe], capture_output=True).returncode != 0:
            print(f"{script}: installing {' '.join(requirements)} into {venv} (once) ...", flush=True)
            subprocess.run([python, "-m", "pip", "install", "-q"] + list(requirements), check=True)
    except (subprocess.CalledProcessError, OSError) as error:
        print(f"{script}: cannot install {' '.join(requirements)} ({error}); skipping the comparison.")
        sys.exit(0)
    os.environ["PROXIMA_IN_PEERS_VENV"] = "1"
    os.execv(python, [python] + sys.argv)


def ensure_or_unavailable(requirements, modules):
    """`ensure` for checks rather than benchmarks: when the modules cannot be provided, exit with status 3
    ("unavailable", which the integration scripts tell apart from success) instead of 0."""
    try:
        ensure(requirements, modules)
    except SystemExit as exit_:
        sys.exit(3 if exit_.code in (0, None) else exit_.code)
