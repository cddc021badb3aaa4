#!/usr/bin/env bash
# Run HERE (a CPU machine with both frameworks) before scripts/gpu-check.sh runs on a GPU machine.
# It makes the golden bundles the GPU is held to, with PyTorch and TensorFlow on CPU, and
# downloads the wheels that the GPU machine's Python (3.12, PyTorch, no network) lacks.
# Both folders are git-ignored; carry them to the GPU machine (.gpu-golden and .whl).
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
[ -x "$py" ] || { echo "run scripts/bootstrap.sh first" >&2; exit 2; }

echo "[prepare] golden bundles on CPU (torch and tensorflow) into .gpu-golden/"
rm -rf .gpu-golden && mkdir -p .gpu-golden
"$py" -m scalespec.cli conform efficientnet-b0 --width 0.5 --resolution 160 --save-golden .gpu-golden/b0-w0.5-160 --quiet
"$py" -m scalespec.cli conform tests/data/tiny_all_blocks.yaml --resolution 37 \
  --save-golden .gpu-golden/tiny-37 --quiet
"$py" -m scalespec.cli conform efficientnet-b0 --width 0.5 --resolution 65 --profile keras \
  --save-golden .gpu-golden/b0-w0.5-keras-65 --quiet

echo "[prepare] wheels for the GPU machine's Python 3.12 into .whl/"
rm -rf .whl && mkdir -p .whl
for pkg in pydantic==2.14.4 pydantic_core==2.50.5 annotated_types==0.8.0 typing_inspection==0.4.5; do
  "$py" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl "$pkg"
done
ls -la .gpu-golden .whl
echo "[prepare] ready: carry .gpu-golden and .whl, then run: bash scripts/gpu-check.sh"
