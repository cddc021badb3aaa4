#!/usr/bin/env bash
# Create .venv in the repository (once) and install scalespec with every extra, pinned by
# constraints.txt. Safe to run again: it only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[bootstrap] creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
echo "[bootstrap] installing scalespec[all] (pinned by constraints.txt)"
# --no-compile: pip would byte-compile every file of PyTorch, TensorFlow and JAX (69 of the
# 138 s a fresh install took here); Python compiles the modules a run imports when it first
# imports them (about 2 s for all the frameworks' imports).
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-compile -c constraints.txt -e ".[all]"
echo "[bootstrap] ready: $(.venv/bin/python -c 'import scalespec; print("scalespec", scalespec.__version__)')"
