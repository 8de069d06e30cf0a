#!/usr/bin/env python3
"""For every model directory FIXTURES/<name>, checks that transformers loads the copies Proxima wrote
(SAVED/<name> and SAVED/<name>-sharded) and computes the same logits as from the original.
Usage: hf_same_logits.py FIXTURES SAVED. Exit 0 when all agree, 1 otherwise, 3 when transformers is unavailable."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_venv import TORCH, ensure_or_unavailable  # noqa: E402

ensure_or_unavailable([TORCH, "transformers==5.24.0"], ["torch", "transformers"])

import torch  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

fixtures, saved = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
failures = 0
names = sorted(n for n in os.listdir(fixtures) if os.path.exists(os.path.join(fixtures, n, "config.json")))
if not names:
    sys.exit(f"no model directories in {fixtures}")
for name in names:
    original = AutoModelForCausalLM.from_pretrained(os.path.join(fixtures, name), dtype=torch.float32).eval()
    ids = torch.randint(3, min(original.config.vocab_size, 300), (2, 9))
    with torch.no_grad():
        expected = original(ids).logits
    for copy in (name, name + "-sharded"):
        model = AutoModelForCausalLM.from_pretrained(os.path.join(saved, copy), dtype=torch.float32).eval()
        with torch.no_grad():
            difference = (model(ids).logits - expected).abs().max().item()
        ok = difference == 0.0
        failures += not ok
        print(f"{copy}: max |logits difference| = {difference:.3g} {'(identical)' if ok else '— DIFFERENT'}")
sys.exit(1 if failures else 0)
