#!/usr/bin/env python3
"""transformers (and peft) greedy-decode the prompts that Proxima decoded, and the texts must be the same.
Usage: hf_same_greedy.py --model DIR [--adapter DIR] --prompts FILE.jsonl --proxima OUT.jsonl --max-new-tokens N
OUT.jsonl is `proxima generate --prompts FILE --temperature 0 …`'s output (one object per prompt with "completion" and
"token_ids").
Greedy decoding is ill-conditioned where two tokens' logits are equal up to rounding: two correct float32
implementations that sum in another order may pick either. Where the token ids first part, transformers' logits of both
tokens at that position are compared; a gap below --tie (relative to the logits' size) is reported as a tie and
accepted, anything larger is a difference. At least half the prompts must decode identically.
Exit status 0: every completion identical or parted at a tie; 1: a difference; 3: torch/transformers/peft unavailable."""
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
p.add_argument("--tie", type=float, default=1e-4, help="largest relative logit gap read as a tie (default 1e-4)")
a = p.parse_args()
torch.set_num_threads(1)
tok = AutoTokenizer.from_pretrained(a.model)
model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
if a.adapter:
    from peft import PeftModel
    model = PeftModel.from_pretrained(model, a.adapter)
model.eval()
prompts = [json.loads(line)["prompt"] for line in open(a.prompts) if line.strip()]
records = [json.loads(line) for line in open(a.proxima) if line.strip()]
assert len(prompts) == len(records), f"{len(prompts)} prompts, {len(records)} Proxima completions"
differences, ties = 0, 0
for prompt, record in zip(prompts, records):
    ids = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=a.max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id or 0)
    new = out[0, ids["input_ids"].shape[1]:].tolist()
    text = tok.decode(new, skip_special_tokens=True)
    proxima = record["completion"]
    if text == proxima:
        continue
    mine = record.get("token_ids")
    k = next((i for i, (x, y) in enumerate(zip(new, mine or [])) if x != y), None)
    if k is not None:
        # Both decoders agree up to token k; transformers' logits there say how far apart the two choices are.
        prefix = torch.tensor([ids["input_ids"][0].tolist() + new[:k]])
        with torch.no_grad():
            logits = model(input_ids=prefix).logits[0, -1].double()
        gap = float(logits[new[k]] - logits[mine[k]])
        scale = max(1.0, float(logits.abs().max()))
        if abs(gap) <= a.tie * scale:
            ties += 1
            print(f"  tie: {prompt!r}: token {k} is {new[k]} in transformers, {mine[k]} in proxima, logits {gap:+.2e} apart "
                  f"(scale {scale:.2f}); transformers {text!r}, proxima {proxima!r}")
            continue
        print(f"  differs: {prompt!r}: token {k} is {new[k]} in transformers, {mine[k]} in proxima, logits {gap:+.2e} apart; "
              f"transformers {text!r}, proxima {proxima!r}")
    else:
        print(f"  differs: {prompt!r}: transformers {text!r} {new}, proxima {proxima!r} {mine}")
    differences += 1
identical = len(prompts) - differences - ties
kind = "peft adapter on the base" if a.adapter else "full model"
print(f"hf_same_greedy: {a.model}{' + ' + a.adapter if a.adapter else ''} ({kind}): {identical} of {len(prompts)} greedy "
      f"completions identical" + (f", {ties} parted at a tie" if ties else ""))
if identical * 2 < len(prompts):
    print("hf_same_greedy: fewer than half the completions identical", file=sys.stderr)
sys.exit(1 if differences or identical * 2 < len(prompts) else 0)
