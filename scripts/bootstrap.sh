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
# pip byte-compiles every installed file (69 of the 138 s a fresh install takes here). Keep
# it: where PYTHONDONTWRITEBYTECODE is set (as on this project's machines) nothing compiled at
# import is kept, so without it every process, worker and subprocess compiles PyTorch and
# TensorFlow from source again (a CI run took 2 minutes longer).
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[all]"
echo "[bootstrap] ready: $(.venv/bin/python -c 'import scalespec; print("scalespec", scalespec.__version__)')"
