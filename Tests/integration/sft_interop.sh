#!/usr/bin/env bash
# What `proxima align sft` writes loads in Hugging Face's libraries and decodes the same greedy text:
#  1. a full SFT run's output directory in transformers (AutoModelForCausalLM);
#  2. a LoRA SFT run's adapter in peft (PeftModel.from_pretrained on the base model);
#  3. random models from `model init`, every architecture;
#  4. reward models saved by Proxima, as transformers' *ForSequenceClassification with the original scores.
# The peers' venv is made when missing; without it the script skips, and fails only when CI is set.
set -euo pipefail
cd "$(dirname "$0")/../.."
proxima=${PROXIMA:-.build/debug/proxima}
[[ -x $proxima ]] || swift build --product proxima
fixtures=${PROXIMA_HF_FIXTURES:-Tests/Fixtures/fixtures/hf}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$proxima" data make arithmetic --maximum 30 --out "$work/arith.jsonl" > /dev/null
head -200 "$work/arith.jsonl" > "$work/train.jsonl"
head -12 "$work/arith.eval.jsonl" > "$work/prompts.jsonl"
common=(--data "$work/train.jsonl" --per-device-train-batch-size 8 --max-steps 25 --learning-rate 3e-3 --lr-scheduler-type constant
        --logging-steps 25 --threads 1 --quiet)
"$proxima" align sft --model "$fixtures/tiny-gpt2" --out "$work/full" "${common[@]}"
"$proxima" align sft --model "$fixtures/tiny-llama" --out "$work/lora" --lora-r 4 --lora-alpha 16 --lora-dropout 0.1 "${common[@]}"
[[ -f $work/full/model.safetensors && -f $work/lora/adapter_model.safetensors ]]

"$proxima" generate --model "$work/full" --prompts "$work/prompts.jsonl" --temperature 0 --max-new-tokens 6 --threads 1 > "$work/full.jsonl"
"$proxima" generate --model "$fixtures/tiny-llama" --adapter "$work/lora" --prompts "$work/prompts.jsonl" --temperature 0 \
  --max-new-tokens 6 --threads 1 > "$work/lora.jsonl"
"$proxima" generate --model "$fixtures/tiny-llama" --prompts "$work/prompts.jsonl" --temperature 0 --max-new-tokens 6 --threads 1 > "$work/base.jsonl"
# The comparison means something only if training changed what the model says.
if cmp -s "$work/base.jsonl" "$work/lora.jsonl"; then echo "sft_interop: the LoRA run left every greedy completion unchanged" >&2; exit 1; fi
status=0
python3 Benchmarks/peers/hf_same_greedy.py --model "$work/full" --prompts "$work/prompts.jsonl" --proxima "$work/full.jsonl" --max-new-tokens 6 || status=$?
if [[ $status -eq 0 ]]; then
  python3 Benchmarks/peers/hf_same_greedy.py --model "$fixtures/tiny-llama" --adapter "$work/lora" --prompts "$work/prompts.jsonl" \
    --proxima "$work/lora.jsonl" --max-new-tokens 6 || status=$?
fi
# Every architecture `model init` writes (with a tokenizer trained by Proxima) decodes the same greedy text in
# transformers.
for arch in gpt2 llama qwen2 qwen3; do
  [[ $status -eq 0 ]] || break
  "$proxima" model init --arch "$arch" --preset tiny --train-tokenizer "$work/train.jsonl" --seed 3 --out "$work/init-$arch" > /dev/null
  "$proxima" generate --model "$work/init-$arch" --prompts "$work/prompts.jsonl" --temperature 0 --max-new-tokens 6 --threads 1 > "$work/init-$arch.jsonl"
  python3 Benchmarks/peers/hf_same_greedy.py --model "$work/init-$arch" --prompts "$work/prompts.jsonl" --proxima "$work/init-$arch.jsonl" \
    --max-new-tokens 6 || status=$?
done
rewards=${PROXIMA_REWARD_FIXTURES:-Tests/Fixtures/fixtures/reward}
if [[ $status -eq 0 ]]; then
  for model in "$rewards"/*/; do "$proxima" model convert "$model" --out "$work/rewards/$(basename "$model")" > /dev/null; done
  python3 Benchmarks/peers/hf_same_scores.py "$rewards" "$work/rewards" || status=$?
fi
if [[ $status -eq 3 && -z ${CI:-} ]]; then echo "sft_interop: transformers/peft unavailable, skipped"; exit 0; fi
[[ $status -eq 0 ]] || { echo "sft_interop: Hugging Face decodes Proxima's SFT output differently" >&2; exit 1; }
echo "sft_interop: passed (full SFT output in transformers, LoRA adapter in peft: identical greedy text; model init's four architectures likewise; saved reward models score as the originals)"
