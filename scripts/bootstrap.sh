#!/usr/bin/env bash
# Create .venv and install the program, the scheduler filters, the policy pack and the test tools.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
started=$SECONDS
step() { echo "bootstrap: $*"; }
if [ -x .venv/bin/python ]; then
  step "1/3 .venv exists ($(.venv/bin/python --version 2>&1))"
else
  step "1/3 creating .venv with $python"
  if ! "$python" -m venv .venv 2>/dev/null; then
    # Debian's python3 ships venv separately.
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    rm -rf .venv
    "$python" -m venv .venv
  fi
fi
step "2/3 upgrading pip"
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
step "3/3 installing requirements-dev.txt (the program, the filters, the policy pack, the test tools; about a minute the first time)"
.venv/bin/python -m pip install -q --disable-pip-version-check \
  -r requirements-dev.txt -c constraints/openstack.txt
.venv/bin/python -c "import pulumi, pydantic, webex_cloud.cli_common" \
  || { echo "bootstrap: the installed .venv cannot import the program; see the pip output above" >&2; exit 1; }
echo "bootstrap: ready in $((SECONDS - started))s: .venv/bin/python -m webex_cloud --help"
