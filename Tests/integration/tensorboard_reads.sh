#!/usr/bin/env bash
# Checks that TensorBoard's own event-file loader reads Proxima's event files: tags, steps and values must equal
# metrics.jsonl. Installs the tensorboard package into a venv outside the clone (/var/cache/proxima/tensorboard-venv
# as root, else ~/.cache/proxima/tensorboard-venv; PROXIMA_TENSORBOARD_VENV overrides) when missing; if that is
# impossible it says so and fails only when CI is set.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ -n ${PROXIMA_TENSORBOARD_VENV:-} ]]; then venv=$PROXIMA_TENSORBOARD_VENV
elif [[ $(id -u) -eq 0 ]]; then venv=/var/cache/proxima/tensorboard-venv
else venv=${XDG_CACHE_HOME:-$HOME/.cache}/proxima/tensorboard-venv
fi
if ! "$venv/bin/python" -c "import tensorboard" 2>/dev/null; then
  echo "tensorboard_reads: installing tensorboard into $venv"
  if ! { mkdir -p "$(dirname "$venv")" && python3 -m venv "$venv" && "$venv/bin/pip" install -q tensorboard; }; then
    echo "tensorboard_reads: cannot install the tensorboard package"
    if [[ -n ${CI:-} ]]; then exit 1; fi
    exit 0
  fi
fi

proxima=${PROXIMA:-.build/debug/proxima}
[[ -x $proxima ]] || swift build --product proxima
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$proxima" train ppo --env CartPole-v1 --total-steps 1024 --set n_envs=2 --set n_steps=64 --set batch_size=64 \
  --set n_epochs=1 --out "$work/run" --quiet --eval-episodes 0 >/dev/null

"$venv/bin/python" - "$work/run" <<'PY'
import glob, json, math, sys
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

run = sys.argv[1]
files = glob.glob(f"{run}/events.out.tfevents.*")
assert len(files) == 1, f"expected one event file, found {files}"
seen = {}
version = None
for event in EventFileLoader(files[0]).Load():
    if event.HasField("file_version"):
        version = event.file_version
    for value in event.summary.value:
        # TensorBoard's loader converts simple_value into a tensor proto; read whichever is present.
        v = value.simple_value if value.HasField("simple_value") else value.tensor.float_val[0]
        seen[(value.tag, event.step)] = v
assert version == "brain.Event:2", f"file_version {version!r}"
expected = {}
for line in open(f"{run}/metrics.jsonl"):
    record = json.loads(line)
    for key, v in record.items():
        if key not in ("step", "wall_time") and isinstance(v, (int, float)):
            expected[(key, record["step"])] = float(v)
missing = [k for k in expected if k not in seen]
assert not missing, f"tags missing from the event file: {missing[:5]}"
bad = [(k, expected[k], seen[k]) for k in expected if not math.isclose(seen[k], expected[k], rel_tol=1e-6, abs_tol=1e-6)]
assert not bad, f"values differ: {bad[:5]}"
tags = sorted({tag for tag, _ in seen})
print(f"tensorboard_reads: {len(seen)} scalars over {len({s for _, s in seen})} steps and {len(tags)} tags match metrics.jsonl")
PY
