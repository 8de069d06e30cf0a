#!/usr/bin/env python3
"""Reference values for Proxima's rotary position embeddings, produced by Hugging Face transformers itself.

Usage: scripts/golden/rope.py [OUT_DIR]   (default: Tests/Fixtures/reference/rope; needs torch and transformers, e.g.
/var/cache/proxima/peers-venv/bin/python scripts/golden/rope.py)

Every case builds a LlamaConfig with the given head size, rope_theta and rope_scaling, takes the inverse frequencies
and attention scaling from transformers' LlamaRotaryEmbedding (which calls modeling_rope_utils for the non-default
types), its cos/sin for a batch of position ids, and apply_rotary_pos_emb of random query/key tensors. One file per
case, `<rope_type>__<case>.json`:

{ "rope_type": "default" | "linear" | "llama3", "case": "...", "description": "...",
  "params":   { "dimension": d, "base": rope_theta, "rope_scaling": <the config's rope_scaling object, as in a
                config.json>, "attention_scaling": x },
  "inputs":   { "position_ids": [B][T] (int), "attention_mask": [B][S] (0/1), "query": [B][H][T][d],
                "key": [B][Hkv][T][d] },
  "expected": { "inv_freq": [d/2], "cos": [B][T][d], "sin": [B][T][d], "query_embed": [B][H][T][d],
                "key_embed": [B][Hkv][T][d], "position_ids_from_mask": [B][S] (int) },
  "versions": { "torch": ..., "transformers": ... } }

All floating values are float32 (written as the shortest decimal that reads back as the same float32); compare in
float32 with tolerances for float32 rounding. `position_ids_from_mask` is transformers' generation rule:
cumsum(attention_mask) - 1 with padding set to 0.
"""
import json
import os
import sys

import numpy as np
import torch
import transformers
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def plain(t):
    """Nested lists; float32 values as their shortest float32 decimal."""
    a = t.detach().cpu().numpy()
    if a.dtype != np.float32:
        return a.tolist()
    short = [float(np.format_float_positional(np.float32(x), unique=True)) for x in a.ravel()]
    return np.array(short, dtype=object).reshape(a.shape).tolist()


def case(name, description, dimension, base, rope_scaling, position_ids, attention_mask, heads=2, kv_heads=1, seed=0):
    config = LlamaConfig(hidden_size=dimension * heads, num_attention_heads=heads, num_key_value_heads=kv_heads,
                         head_dim=dimension, rope_theta=base, rope_scaling=dict(rope_scaling or {}) or None, max_position_embeddings=131072)
    rotary = LlamaRotaryEmbedding(config)
    position_ids = torch.tensor(position_ids, dtype=torch.long)
    batch, length = position_ids.shape
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(batch, heads, length, dimension, generator=g)
    key = torch.randn(batch, kv_heads, length, dimension, generator=g)
    cos, sin = rotary(query, position_ids)
    query_embed, key_embed = apply_rotary_pos_emb(query, key, cos, sin)
    mask = torch.tensor(attention_mask, dtype=torch.long)
    from_mask = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    rope_type = (rope_scaling or {}).get("rope_type", "default")
    assert rotary.rope_type == rope_type
    return f"{rope_type}__{name}.json", {
        "rope_type": rope_type,
        "case": name,
        "description": description,
        "params": {"dimension": dimension, "base": base, "rope_scaling": rope_scaling,
                   "attention_scaling": float(rotary.attention_scaling)},
        "inputs": {"position_ids": position_ids.tolist(), "attention_mask": attention_mask,
                   "query": plain(query), "key": plain(key)},
        "expected": {"inv_freq": plain(rotary.inv_freq), "cos": plain(cos), "sin": plain(sin),
                     "query_embed": plain(query_embed), "key_embed": plain(key_embed),
                     "position_ids_from_mask": from_mask.tolist()},
        "versions": {"torch": torch.__version__.split("+")[0], "transformers": transformers.__version__},
    }


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "Tests", "Fixtures", "reference", "rope")
    os.makedirs(out, exist_ok=True)
    left_padded = [[0, 0, 0, 1, 2, 3], [0, 1, 2, 3, 4, 5], [4090, 4091, 4092, 4093, 4094, 4095]]
    masks = [[0, 0, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1], [0, 1, 1, 1, 1, 0]]
    cases = [
        case("llama2", "Llama 2 defaults (head 64, theta 1e4); a left-padded row and positions near 4096",
             64, 10000.0, None, left_padded, masks),
        case("theta_500k", "head 128, theta 5e5 without scaling (Llama 3.0)",
             128, 500000.0, None, [[0, 1, 2, 3, 4], [7, 100, 1000, 10000, 100000]], [[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]]),
        case("factor4", "linear interpolation, factor 4, head 32",
             32, 10000.0, {"rope_type": "linear", "factor": 4.0}, left_padded, masks, heads=4, kv_heads=2),
        case("llama3_1", "Llama 3.1 8B: head 128, theta 5e5, factor 8, low 1, high 4, original context 8192",
             128, 500000.0, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 8192},
             [[0, 1, 2, 3, 4, 5], [0, 0, 0, 0, 1, 2], [8000, 8191, 8192, 16384, 65536, 131071]], masks),
        case("short_context", "llama3 with original context 256 and factors 32/2/8: all three bands on a head of 64",
             64, 10000.0, {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 2.0, "high_freq_factor": 8.0,
                           "original_max_position_embeddings": 256},
             left_padded, masks, heads=3, kv_heads=3),
    ]
    for name, data in cases:
        with open(os.path.join(out, name), "w") as f:
            json.dump(data, f, separators=(",", ":"))
            f.write("\n")
        print(os.path.join(out, name))


if __name__ == "__main__":
    main()
