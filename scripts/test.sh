#!/usr/bin/env bash
# The test command of README (and .ci/run): creates .venv when missing, then runs pytest.
# Slow cases are marked `slow`; they run too unless SNNEXPORT_FAST=1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
MARK=()
[ "${SNNEXPORT_FAST:-0}" = "1" ] && MARK=(-m "not slow")
exec .venv/bin/python -m pytest -q "${MARK[@]}" "$@"
