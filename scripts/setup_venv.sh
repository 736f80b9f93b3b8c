#!/usr/bin/env bash
# Create .venv (if missing) with every pinned dependency of snnexport, CPU-only.
#
# Why not a plain `pip install norse spikingjelly`: their declared requirements
# (torchvision; torchaudio, tensorboard) drag in a multi-GB CUDA torch build. We pin
# torch==2.13.0 (the CPU wheel) in every pip call and install norse and spikingjelly with
# --no-deps; what they really import at run time (norse.torch, spikingjelly.activation_based
# and its nir_exchange) is covered by requirements.txt (numpy, nir, nirtorch, loguru).
# Seen: ~1.2 GB venv this way versus ~5.8 GB otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
STAMP=.venv/.snnexport-installed
if [ -f "$STAMP" ] && cmp -s "$STAMP" <(cat requirements.txt requirements-extra.txt requirements-nodeps.txt pyproject.toml 2>/dev/null); then
  exit 0
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip --disable-pip-version-check -q"
$PIP install torch==2.13.0 -r requirements.txt
# Extra pinned packages (model zoo, reports); always installed with torch pinned.
[ -f requirements-extra.txt ] && $PIP install torch==2.13.0 -r requirements-extra.txt
$PIP install --no-deps norse==1.1.0 spikingjelly==2.0.0
[ -f requirements-nodeps.txt ] && $PIP install --no-deps -r requirements-nodeps.txt
$PIP install --no-deps --no-build-isolation -e . 2>/dev/null || $PIP install --no-deps -e .
cat requirements.txt requirements-extra.txt requirements-nodeps.txt pyproject.toml 2>/dev/null > "$STAMP"
