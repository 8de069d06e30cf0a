#!/usr/bin/env python3
"""transformers' generate on a model directory: batch B prompts of P random token ids (no padding), exactly N new
tokens each (EOS ignored), KV cache on, fp32. Prints one JSON line with the same keys `proxima bench generate` prints:
tokens_per_s (new tokens of the whole batch per second of decoding), prefill_tokens_per_s, wall_s, peak_rss_mb.
Usage: python hf_generate.py --model DIR --batch-size 8 --prompt-tokens 32 --max-new-tokens 64 [--sample] --threads 1"""
import argparse, json, os, resource, sys, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_venv import TORCH, ensure  # noqa: E402
ensure([TORCH, "transformers==5.24.0"], ["torch", "transformers"])
p = argparse.ArgumentParser()
p.add_argument("--model", required=True); p.add_argument("--batch-size", "--batch", dest="batch", type=int, default=8)
p.add_argument("--prompt-tokens", type=int, default=32)
p.add_argument("--max-new-tokens", "--new-tokens", dest="new_tokens", type=int, default=64)
p.add_argument("--sample", action="store_true"); p.add_argument("--threads", type=int, default=1)
p.add_argument("--repeats", type=int, default=3)
a = p.parse_args()
import torch
torch.set_num_threads(a.threads)
from transformers import AutoModelForCausalLM
m = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32).eval()
V = m.config.vocab_size
g = torch.Generator().manual_seed(0)
ids = torch.randint(3, min(V, 380), (a.batch, a.prompt_tokens), generator=g)
mask = torch.ones_like(ids)
kw = dict(max_new_tokens=a.new_tokens, min_new_tokens=a.new_tokens, do_sample=a.sample, eos_token_id=None,
          pad_token_id=0, use_cache=True)
if a.sample:
    kw.update(temperature=1.0, top_k=0, top_p=1.0)
with torch.inference_mode():
    m.generate(ids, attention_mask=mask, **dict(kw, max_new_tokens=4, min_new_tokens=4))  # warm-up
    best_dec, best_pre = float("inf"), float("inf")
    for _ in range(a.repeats):
        t0 = time.perf_counter(); m(ids, attention_mask=mask); pre = time.perf_counter() - t0
        t0 = time.perf_counter(); out = m.generate(ids, attention_mask=mask, **kw); tot = time.perf_counter() - t0
        assert out.shape[1] == a.prompt_tokens + a.new_tokens
        best_pre = min(best_pre, pre); best_dec = min(best_dec, max(tot - pre, 1e-9))
print(json.dumps({"impl": "transformers", "model": os.path.basename(a.model.rstrip("/")), "batch": a.batch,
                  "prompt_tokens": a.prompt_tokens, "new_tokens": a.new_tokens, "threads": a.threads,
                  "tokens_per_s": a.batch * a.new_tokens / best_dec,
                  "prefill_tokens_per_s": a.batch * a.prompt_tokens / best_pre, "wall_s": best_dec + best_pre,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
