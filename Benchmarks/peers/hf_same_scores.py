#!/usr/bin/env python3
"""transformers loads reward models that Proxima saved (`proxima model convert`) as *ForSequenceClassification and
scores the fixtures' sequences as the originals do.
Usage: hf_same_scores.py FIXTURES SAVED (each reward fixture NAME in FIXTURES saved as SAVED/NAME).
Exit 0 when every score agrees within the fixture's atol, 1 otherwise, 3 when transformers is unavailable."""
import json, os, sys
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_venv import TORCH, ensure_or_unavailable  # noqa: E402
ensure_or_unavailable([TORCH, "transformers==5.24.0"], ["torch", "transformers"])
import torch  # noqa: E402
from transformers import AutoModelForSequenceClassification  # noqa: E402

fixtures, saved = sys.argv[1], sys.argv[2]
names = sorted(n for n in os.listdir(fixtures) if os.path.exists(os.path.join(fixtures, n, "expected.json")))
if not names:
    sys.exit(f"no reward models in {fixtures}")
bad = 0
for name in names:
    expected = json.load(open(os.path.join(fixtures, name, "expected.json")))
    model = AutoModelForSequenceClassification.from_pretrained(os.path.join(saved, name), dtype=torch.float32).eval()
    with torch.no_grad():
        scores = [model(input_ids=torch.tensor([ids])).logits[0, 0].item() for ids in expected["sequences"]]
    worst = max(abs(a - b) for a, b in zip(scores, expected["scores"]))
    ok = worst <= expected["atol"]
    bad += not ok
    print(f"hf_same_scores: {name} saved by Proxima: {type(model).__name__}, max |score difference| {worst:.2e} ({'ok' if ok else 'TOO LARGE'})")
sys.exit(1 if bad else 0)
