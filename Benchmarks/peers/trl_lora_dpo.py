#!/usr/bin/env python3
"""LoRA DPO throughput and memory on CPU: TRL's DPOTrainer with a peft LoraConfig (the reference is the model with
its adapters disabled, TRL's behaviour with peft) on a model directory and a prompt/chosen/rejected JSONL (the first
--rows rows), sigmoid loss, beta 0.1, 1 epoch, lr 1e-4 constant, fp32, LoRA on every attention and MLP projection
with dropout 0, gradient checkpointing on (TRL's default and Proxima's), so both sides compute the same thing.
Prints one JSON line: pairs_per_s = rows / wall time of trainer.train(); peak_rss_mb = the process's peak resident
memory.
Usage: trl_lora_dpo.py --model DIR --data FILE [--rows 32 --batch-size 8 --lora-r 16 --lora-alpha 32 --threads 1]"""
import argparse, json, os, resource, sys, tempfile, time
os.environ.setdefault("HF_HUB_OFFLINE", "1"); os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_venv import TORCH, ensure  # noqa: E402
ensure([TORCH, "transformers==5.24.0", "trl", "peft", "datasets"], ["torch", "transformers", "trl", "peft", "datasets"])
import torch  # noqa: E402
import datasets, transformers, trl  # noqa: E402
from peft import LoraConfig  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--model", required=True); p.add_argument("--data", required=True)
p.add_argument("--rows", type=int, default=32); p.add_argument("--batch-size", type=int, default=8)
p.add_argument("--lora-r", type=int, default=16); p.add_argument("--lora-alpha", type=float, default=32)
p.add_argument("--threads", type=int, default=1); p.add_argument("--seed", type=int, default=0)
a = p.parse_args()
torch.set_num_threads(a.threads); torch.manual_seed(a.seed)
rows = [json.loads(line) for line in open(a.data) if line.strip()][:a.rows]
tok = transformers.AutoTokenizer.from_pretrained(a.model)
if tok.pad_token is None:
    tok.pad_token = tok.eos_token
model = transformers.AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
peft_config = LoraConfig(r=a.lora_r, lora_alpha=a.lora_alpha, lora_dropout=0.0, target_modules=targets, task_type="CAUSAL_LM")
cfg = DPOConfig(output_dir=tempfile.mkdtemp(prefix="dpo_lora_trl_"), per_device_train_batch_size=a.batch_size,
                num_train_epochs=1, learning_rate=1e-4, lr_scheduler_type="constant", beta=0.1, max_length=128,
                bf16=False, gradient_checkpointing=True, use_cpu=True, seed=a.seed, logging_steps=2, save_strategy="no", report_to="none",
                disable_tqdm=True, dataloader_num_workers=0)
trainer = DPOTrainer(model=model, args=cfg, train_dataset=datasets.Dataset.from_list(rows), processing_class=tok,
                     peft_config=peft_config)
trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
t0 = time.perf_counter(); trainer.train(); dt = time.perf_counter() - t0
logs = [h for h in trainer.state.log_history if "loss" in h]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"bench": "dpo_lora", "impl": "trl+peft", "threads": a.threads, "rows": len(rows), "batch_size": a.batch_size,
                  "train_wall_s": round(dt, 2), "pairs_per_s": round(len(rows) / dt, 2), "peak_rss_mb": round(peak, 1),
                  "first_loss": logs[0]["loss"] if logs else None, "last_loss": logs[-1]["loss"] if logs else None,
                  "trl": trl.__version__}))
