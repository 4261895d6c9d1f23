#!/usr/bin/env bash
# Create .venv and install the program, the scheduler filters and the policy pack, from the hash locks.
#   bash scripts/bootstrap.sh            everything the tests, linters and benchmarks need (requirements-dev.lock)
#   bash scripts/bootstrap.sh --runtime  what the program needs at run time only (requirements.lock): the deploy
# Every third-party file is checked against the SHA-256 the lock holds (`--require-hashes`) and must be a
# wheel (`--only-binary :all:`: no package's build script runs here; one dev-only exception below); pip,
# setuptools and wheel come first, from requirements-build.lock, and build the project's own three
# packages from this checkout, without the index.
# Idempotent: a second run only checks that everything is installed. The locks come from the pins in
# requirements*.txt: scripts/lock.sh regenerates them.
set -euo pipefail
cd "$(dirname "$0")/.."

lock=requirements-dev.lock
what="the program, the filters, the policy pack, the test tools"
# The one locked package PyPI publishes no wheel of (Open vSwitch's bindings, which Nova's tests pull in
# through os-vif): built here from its hashed source with the locked setuptools. Dev set only.
source_builds=(--no-binary ovs)
case "${1:-}" in
  "") ;;
  --runtime) lock=requirements.lock what="the program, the filters, the policy pack: run time only" source_builds=() ;;
  *) echo "usage: bash scripts/bootstrap.sh [--runtime]" >&2; exit 2 ;;
esac

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
step "2/3 installing requirements-build.lock, then $lock, with hashes required ($what; a minute or two the first time)"
bash scripts/install-locked.sh .venv/bin/python requirements-build.lock
bash scripts/install-locked.sh .venv/bin/python "$lock" "${source_builds[@]}"
step "3/3 installing the project's own packages from this checkout"
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-index --no-build-isolation \
  -e ./scheduler-filters -e ./policies -e .
.venv/bin/python -c "import pulumi, pydantic, webex_cloud.cli_common" \
  || { echo "bootstrap: the installed .venv cannot import the program; see the pip output above" >&2; exit 1; }
echo "bootstrap: ready in $((SECONDS - started))s: .venv/bin/python -m webex_cloud --help"
