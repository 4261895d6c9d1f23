#!/usr/bin/env bash
# The test command. Full tier by default: installs everything, starts the loopback OpenStack
# control plane (tools/openstack-loopback) and runs every test. WEBEX_FAST_TESTS=1 runs the fast
# tier only (unit and in-process real-code tests, no OpenStack services), in a few minutes: spread
# over every core (pytest-xdist), as nothing in it shares a service. The full tier runs in two passes:
# first everything but the integration tests, spread over every core like the fast tier; then the
# integration tests in one process, alone on the machine: they drive one loopback cloud in a set order
# (tests/integration/conftest.py) and time its services' restarts and health, which other work on the
# same cores would only make flaky. Arguments (a file, -k ...) run one pytest as given, in one process.
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
if [ "${WEBEX_FAST_TESTS:-0}" = "1" ] || [ "$#" -gt 0 ]; then
  exec .venv/bin/pytest "${workers[@]}" "$@"
fi
status=0
.venv/bin/pytest --numprocesses auto -m "not integration" || status=$?
.venv/bin/pytest -m integration || status=$?
exit "$status"
