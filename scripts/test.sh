#!/usr/bin/env bash
# The test command. Full tier by default: installs everything, starts the loopback OpenStack
# control plane (tools/openstack-loopback) and runs every test. WEBEX_FAST_TESTS=1 runs the fast
# tier only (unit and in-process real-code tests, no OpenStack services), in a few minutes: spread
# over every core (pytest-xdist), as nothing in it shares a service. The full tier stays in one process:
# its integration tests drive one loopback cloud in a set order (tests/integration/conftest.py) and
# time its services' restarts and health, which other work on the same cores would only make flaky.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh
workers=()
if [ "${WEBEX_FAST_TESTS:-0}" = "1" ]; then
  workers=(--numprocesses auto)
else
  # promtool and amtool check the generated monitoring (tests/monitoring); the fast tier skips those
  # tests when they are not installed.
  bash tools/monitoring/install.sh
  # sshd holds the drift reader's forced command (tests/controller/test_reader_sshd.py); skipped fast.
  bash tools/sshd/install.sh
  bash tools/openstack-loopback/up.sh
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
exec .venv/bin/pytest "${workers[@]}" "$@"
