#!/usr/bin/env python3
"""transformers (and peft) greedy-decode the prompts that Proxima decoded, and the texts must be the same.
Usage: hf_same_greedy.py --model DIR [--adapter DIR] --prompts FILE.jsonl --proxima OUT.jsonl --max-new-tokens N
OUT.jsonl is `proxima generate --prompts FILE --temperature 0 …`'s output (one object per prompt with "completion").
Exit status 0: every completion identical; 1: a difference; 3: torch/transformers/peft unavailable."""
import argparse, json, os, sys
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_venv import TORCH, ensure_or_unavailable  # noqa: E402
ensure_or_unavailable([TORCH, "transformers==5.24.0", "peft"], ["torch", "transformers", "peft"])
import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--model", required=True); p.add_argument("--adapter"); p.add_argument("--prompts", required=True)
p.add_argument("--proxima", required=True); p.add_argument("--max-new-tokens", type=int, default=8)
a = p.parse_args()
torch.set_num_threads(1)
tok = AutoTokenizer.from_pretrained(a.model)
model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
if a.adapter:
    from peft import PeftModel
    model = PeftModel.from_pretrained(model, a.adapter)
model.eval()
prompts = [json.loads(line)["prompt"] for line in open(a.prompts) if line.strip()]
theirs = [json.loads(line)["completion"] for line in open(a.proxima) if line.strip()]
assert len(prompts) == len(theirs), f"{len(prompts)} prompts, {len(theirs)} Proxima completions"
differences = 0
for prompt, proxima in zip(prompts, theirs):
    ids = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=a.max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id or 0)
    text = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    if text != proxima:
        differences += 1
        print(f"  differs: {prompt!r}: transformers {text!r}, proxima {proxima!r}")
kind = "peft adapter on the base" if a.adapter else "full model"
print(f"hf_same_greedy: {a.model}{' + ' + a.adapter if a.adapter else ''} ({kind}): {len(prompts) - differences} of {len(prompts)} greedy completions identical")
sys.exit(1 if differences else 0)
