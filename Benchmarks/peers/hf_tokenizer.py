#!/usr/bin/env python3
"""Hugging Face `tokenizers` (Rust) peer of `proxima bench tokenizer`: loads the tokenizer.json Proxima trained and
wrote, encodes the same corpus the same way (line by line, each line keeping its "\\n", no special tokens) on one
thread, checks every line's ids against the ones Proxima wrote, and prints one JSON line last:
{"impl": "tokenizers", "mb_per_s": ..., "identical_lines": ..., "lines": ...}.

Usage: Benchmarks/peers/hf_tokenizer.py --tokenizer TOKENIZER_JSON --corpus TEXT --ids IDS_JSONL [--repeats 3]
IDS_JSONL holds one JSON array of ids per corpus line. The speed is the best of --repeats timed encodings of every
line (`encode_batch` with TOKENIZERS_PARALLELISM=false and RAYON_NUM_THREADS=1, so Rust uses one thread). Runs in the
peers' venv (Benchmarks/peers/peer_venv.py, outside the clone), installing tokenizers there once when missing.
"""
import os

# Before tokenizers is imported anywhere: one thread, no parallel batches.
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["RAYON_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_venv import ensure  # noqa: E402

TOKENIZERS = "tokenizers==0.23.3"


def corpus_lines(path):
    """The corpus cut after every b"\\n" (the last line may lack one), as Proxima cuts it; str.splitlines would also
    break at \\r, \\x0c, \\x85, \\u2028 and others."""
    with open(path, "rb") as f:
        data = f.read()
    pieces = data.split(b"\n")
    lines = [piece + b"\n" for piece in pieces[:-1]]
    if pieces[-1]:
        lines.append(pieces[-1])
    return [line.decode("utf-8", errors="replace") for line in lines], len(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokenizer", required=True, help="tokenizer.json written by Proxima")
    parser.add_argument("--corpus", required=True, help="the text file Proxima encoded")
    parser.add_argument("--ids", required=True, help="Proxima's ids, one JSON array per corpus line")
    parser.add_argument("--repeats", type=int, default=3, help="timed encodings; the fastest is reported")
    args = parser.parse_args()
    ensure([TOKENIZERS], ["tokenizers"])
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(args.tokenizer)
    lines, corpus_bytes = corpus_lines(args.corpus)
    with open(args.ids) as f:
        expected = [json.loads(row) for row in f]
    if len(expected) != len(lines):
        print(f"hf_tokenizer.py: {args.ids} has {len(expected)} rows of ids but {args.corpus} has {len(lines)} lines",
              file=sys.stderr)
        return 1

    best = float("inf")
    encodings = None
    for run in range(max(1, args.repeats)):
        start = time.perf_counter()
        encodings = tokenizer.encode_batch(lines, add_special_tokens=False)
        seconds = time.perf_counter() - start
        best = min(best, seconds)
        print(f"tokenizers {tokenizers_version()} run {run + 1}: {corpus_bytes} bytes in {seconds:.3f} s = "
              f"{corpus_bytes / seconds / 1e6:.2f} MB/s", flush=True)

    identical = 0
    for index, (encoding, ids) in enumerate(zip(encodings, expected)):
        if encoding.ids == ids:
            identical += 1
        elif index - identical < 3:  # the first three differing lines
            print(f"line {index} differs: {lines[index][:80]!r}\n  tokenizers: {encoding.ids[:24]}\n  proxima:    {ids[:24]}")
    print(json.dumps({"impl": "tokenizers", "version": tokenizers_version(), "mb_per_s": corpus_bytes / best / 1e6,
                      "seconds": best, "bytes": corpus_bytes, "identical_lines": identical, "lines": len(lines),
                      "tokens": sum(len(e.ids) for e in encodings)}, sort_keys=True))
    return 0


def tokenizers_version():
    import tokenizers

    return tokenizers.__version__


if __name__ == "__main__":
    sys.exit(main())
