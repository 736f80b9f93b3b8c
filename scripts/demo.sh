#!/usr/bin/env bash
# The main job of README on a bundled default: convert a shipped checkpoint to NIR,
# verify it across simulators, and report its cost on neuromorphic targets.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
CKPT=${1:-models/checkpoints/spikingrx.pt}
OUT=${OUT:-out}
mkdir -p "$OUT"
NIR="$OUT/$(basename "${CKPT%.pt}").nir"
.venv/bin/snnexport convert "$CKPT" -o "$NIR"
.venv/bin/snnexport inspect "$NIR"
.venv/bin/snnexport verify "$CKPT" --steps 8 --batch 4 --seed 0
if .venv/bin/snnexport report --help >/dev/null 2>&1; then
  .venv/bin/snnexport report "$CKPT" --steps 8 --batch 4 --plot "$OUT/report.png"
fi
