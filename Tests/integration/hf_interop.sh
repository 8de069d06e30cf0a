#!/usr/bin/env bash
# Hugging Face's own libraries read what Proxima writes:
#  1. a byte-level BPE trained by Proxima and saved as tokenizer.json encodes every line of a text identically in
#     HF `tokenizers` (`proxima bench tokenizer --peer` checks the ids line by line);
#  2. every fixture model saved by `proxima model convert` (in its own dtype, and sharded) loads in transformers with
#     the same logits as the original directory.
# The peers' venv (Benchmarks/peers/peer_venv.py, outside the clone) is created when missing; if that is impossible
# the script says so and fails only when CI is set.
set -euo pipefail
cd "$(dirname "$0")/../.."
proxima=${PROXIMA:-.build/debug/proxima}
[[ -x $proxima ]] || swift build --product proxima
fixtures=${PROXIMA_HF_FIXTURES:-Tests/Fixtures/fixtures/hf}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat /usr/share/common-licenses/GPL-3 /usr/share/common-licenses/Apache-2.0 > "$work/corpus.txt"
if ! "$proxima" bench tokenizer --corpus "$work/corpus.txt" --vocabulary-size 2000 --peer --out "$work/tok" > "$work/tok.log" 2>&1; then
  cat "$work/tok.log"; echo "hf_interop: the trained tokenizer does not encode identically in HF tokenizers" >&2; exit 1
fi
if ! grep -q '"identical":true' "$work/tok.log"; then
  cat "$work/tok.log"
  if grep -q "peer not run" "$work/tok.log" && [[ -z ${CI:-} ]]; then echo "hf_interop: tokenizers unavailable, skipped"; exit 0; fi
  echo "hf_interop: no identity result from HF tokenizers" >&2; exit 1
fi
grep -E "ids:|proxima / tokenizers" "$work/tok.log"

for model in "$fixtures"/*/; do
  name=$(basename "$model")
  "$proxima" model convert "$model" --out "$work/$name" > /dev/null
  "$proxima" model convert "$model" --out "$work/$name-sharded" --max-shard-size 1 > /dev/null
done
python3 Benchmarks/peers/hf_same_logits.py "$fixtures" "$work" || {
  status=$?
  if [[ $status -eq 3 && -z ${CI:-} ]]; then echo "hf_interop: transformers unavailable, skipped"; exit 0; fi
  exit 1
}
