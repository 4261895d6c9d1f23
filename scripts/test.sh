#!/usr/bin/env bash
# The test command. Full tier by default: installs everything, starts the loopback OpenStack
# control plane (tools/openstack-loopback) and runs every test. WEBEX_FAST_TESTS=1 runs the fast
# tier only (unit and in-process real-code tests, no OpenStack services), in a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh
if [ "${WEBEX_FAST_TESTS:-0}" != "1" ]; then
  bash tools/openstack-loopback/up.sh
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
exec .venv/bin/pytest "$@"
