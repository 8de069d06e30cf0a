"""Writes a randomly initialised Hugging Face model directory of a real model's shape (no download), for speed
benchmarks that Proxima and transformers run on the same files.
Usage: python make_random_lm.py SHAPE OUT_DIR   (SHAPE: smollm2-135m | qwen2.5-0.5b)"""
import os, shutil, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_venv import TORCH, ensure  # noqa: E402
ensure([TORCH, "transformers==5.24.0"], ["torch", "transformers"])
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

shape, out = sys.argv[1], sys.argv[2]
here = os.path.dirname(os.path.abspath(__file__))
fixtures = os.environ.get("PROXIMA_HF_FIXTURES", os.path.join(here, "..", "..", "Tests", "Fixtures", "fixtures", "hf"))
torch.manual_seed(0)
if shape == "smollm2-135m":  # the published SmolLM2-135M configuration's shape
    cfg = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                      num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192, rope_theta=100000.0,
                      rms_norm_eps=1e-5, tie_word_embeddings=True, initializer_range=0.04, bos_token_id=1, eos_token_id=2)
    model = LlamaForCausalLM(cfg)
    tok_src = os.path.join(fixtures, "tiny-llama")
elif shape == "qwen2.5-0.5b":  # the published Qwen2.5-0.5B configuration's shape
    cfg = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                      num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768, rope_theta=1000000.0,
                      rms_norm_eps=1e-6, tie_word_embeddings=True, initializer_range=0.02, bos_token_id=0, eos_token_id=0)
    model = Qwen2ForCausalLM(cfg)
    tok_src = os.path.join(fixtures, "tiny-qwen2-bf16")
else:
    sys.exit(f"unknown shape {shape}")
os.makedirs(out, exist_ok=True)
model.eval().save_pretrained(out, safe_serialization=True)
for f in ("tokenizer.json", "tokenizer_config.json"):
    shutil.copy(os.path.join(tok_src, f), os.path.join(out, f))
print(out, sum(p.numel() for p in model.parameters()), "parameters")
