#!/usr/bin/env bash
# The engine's facts: `proxima info --json` reports the pinned libtorch loaded from its own prefix (also where a system
# libtorch is installed), and no library target of Package.swift carries unsafe flags (a package with them cannot be
# a dependency of another package).
set -euo pipefail
cd "$(dirname "$0")/../.."
proxima=${PROXIMA:-.build/debug/proxima}
[[ -x $proxima ]] || swift build --product proxima

info=$("$proxima" info --json --threads 1)
echo "  $info"
python3 - "$info" <<'PY'
import json, sys
facts = json.loads(sys.argv[1])
assert facts["libtorch"] == "2.15.0", facts
assert "/libtorch-2.15.0/lib/libtorch_cpu.so" in facts["library"], facts
assert facts["threads"] == 1, facts
assert facts["cuda_available"] is False, facts
assert "Math Kernel Library" in facts["blas"], facts
PY
if compgen -G "/usr/lib/$(uname -m)-linux-gnu/libtorch_cpu.so*" >/dev/null; then
  echo "  (a system libtorch is installed too; the pinned one was loaded)"
fi

swift package dump-package > "${TMPDIR:-/tmp}/proxima-package.json"
python3 - "${TMPDIR:-/tmp}/proxima-package.json" <<'PY'
import json, sys
package = json.load(open(sys.argv[1]))
bad = []
for target in package["targets"]:
    if target["type"] in ("executable", "test"):
        continue
    for setting in target.get("settings", []):
        if "unsafeFlags" in setting.get("kind", {}):
            bad.append(target["name"])
if bad:
    sys.exit(f"library targets with unsafe flags: {sorted(set(bad))}")
print("  no library target has unsafe flags:", ", ".join(t["name"] for t in package["targets"] if t["type"] not in ("executable", "test")))
PY
echo "engine_facts: passed"
