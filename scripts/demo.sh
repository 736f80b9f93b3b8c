#!/usr/bin/env bash
# The main job of README on a bundled default: convert a shipped checkpoint to NIR,
# verify it across simulators, and report its cost on neuromorphic targets.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}  # shared 2-core machines: no spin-waiting threads
CKPT=${1:-models/checkpoints/spikingrx.pt}
OUT=${OUT:-out}
mkdir -p "$OUT"
NIR="$OUT/$(basename "${CKPT%.pt}").nir"
SAMPLE="${CKPT%.pt}_sample.npy"   # the shipped time-major input [T, B, ...] of a zoo model
INPUT=(--steps 8 --batch 4 --seed 0)
[ -f "$SAMPLE" ] && INPUT=(--input "$SAMPLE")
.venv/bin/snnexport convert "$CKPT" -o "$NIR"
.venv/bin/snnexport inspect "$NIR"
.venv/bin/snnexport verify "$CKPT" "${INPUT[@]}"
.venv/bin/snnexport report "$CKPT" "${INPUT[@]}" --plot "$OUT/report.png" -o "$OUT/report.md" --markdown
echo "wrote $NIR, $OUT/report.md and $OUT/report.png"
