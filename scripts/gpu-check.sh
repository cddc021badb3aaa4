#!/usr/bin/env bash
# Run on a machine with an NVIDIA GPU and PyTorch (TensorFlow may be absent), from the
# repository root, after scripts/prepare-gpu-check.sh made .gpu-golden and .whl elsewhere.
# It installs the missing wheels offline, checks every golden bundle with PyTorch on CUDA
# (TF32 off), compares the memory model with torch.cuda.max_memory_allocated
# (benchmarks/memory.py), runs the CUDA tests, and writes a JSON report per bundle and summary.md
# into $OUT (default ./gpu-check-out). DEVICE=cpu dry-runs the same steps without a GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check-out}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
log() { echo "[gpu-check] $*" | tee -a "$OUT/summary.md"; }

if [ -d .whl ] && [ "${SKIP_INSTALL:-0}" != 1 ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "wheel install failed" >&2; exit 2; }
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}
[ -d .gpu-golden ] || { echo "no .gpu-golden: run scripts/prepare-gpu-check.sh where TensorFlow is" >&2; exit 2; }

: > "$OUT/summary.md"
log "$(date -u +%FT%TZ) device=$DEVICE $("$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")')"
status=0
for bundle in .gpu-golden/*/; do
  name=$(basename "$bundle")
  start=$(date +%s%N)
  "$PY" -m scalespec.cli conform --golden "$bundle" --backends torch --device "$DEVICE" --quiet \
    --json "$OUT/$name.json" --force > "$OUT/$name.txt" 2>&1
  rc=$?
  [ $rc -eq 0 ] || status=1
  log "$name: exit $rc in $(( ($(date +%s%N) - start) / 1000000 )) ms"
done
"$PY" - "$OUT" <<'PYEOF' | tee -a "$OUT/summary.md"
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
COMPARED = ("outputs", "taps", "train-taps", "loss", "gradients", "bn-stats")
print("| bundle | check | subject | max abs | worst (x allowance) | first diverging tap | result |")
print("|---|---|---|---|---|---|---|")
for path in sorted(out.glob("*.json")):
    for report in json.loads(path.read_text())["reports"]:
        for check in report["checks"]:
            if check["check"] in COMPARED:
                f = check["figures"]
                rows = check.get("details") or [f]
                peak = max((r.get("max_abs", 0) for r in rows), default=0)
                result = "PASS" if check["ok"] else "FAIL"
                print(f"| {path.stem} | {check['check']} | {check['subject']} | {peak:.3g} | {f.get('worst', 0):.3g} | {f.get('first', '')} | {result} |")
PYEOF
# the memory model (ir/memory.py) against the allocator's peak on this device (docs/cost.md)
"$PY" benchmarks/memory.py --device "$DEVICE" --models efficientnet-b0 efficientnetv2-s 2>&1 \
  | grep -v '^ ' | tee -a "$OUT/summary.md"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
if [ "$DEVICE" = cuda ]; then
  "$PY" -m pytest -q -p no:cacheprovider -p no:scalespec tests/test_torch_export.py -k cuda 2>&1 | tail -3 | tee -a "$OUT/summary.md"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi
log "done: status $status"
exit $status
