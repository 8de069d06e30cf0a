#!/usr/bin/env python3
"""TRL's DPOTrainer on the peers' DPO work (dpo_bench.py, the team's shared peer benchmark, copied beside this
file), run inside the peers' venv. Arguments pass through: --impl trl|torch --threads N, or --export DIR to write the work."""
import os
import runpy
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_venv import TORCH, ensure  # noqa: E402
ensure([TORCH, "transformers==5.24.0", "trl", "peft", "datasets"], ["torch", "transformers", "trl", "peft", "datasets"])
sys.argv = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "dpo_bench.py")] + sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
