#!/usr/bin/env bash
# The test command of README (and .ci/run): creates .venv when missing, then runs pytest.
# Slow cases are marked `slow`; they run too unless SNNEXPORT_FAST=1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}  # shared 2-core machines: no spin-waiting threads
MARK=()
[ "${SNNEXPORT_FAST:-0}" = "1" ] && MARK=(-m "not slow")
exec .venv/bin/python -m pytest -q "${MARK[@]}" "$@"
