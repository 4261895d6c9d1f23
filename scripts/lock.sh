#!/usr/bin/env bash
# Regenerate the hash locks from the pins, after any change to requirements*.txt or constraints/:
#   requirements.lock      what the program needs at run time (requirements.txt): the deploy installs this only
#   requirements-dev.lock  everything the tests, linters and benchmarks need (requirements-dev.txt)
#   requirements-build.lock  pip, setuptools and wheel (requirements-build.txt), installed before the others
# All are resolved for the runners' interpreter (CPython 3.11 on x86_64 Linux: setup-python 3.11 in the
# workflows; markers read as 3.11.7, this project's machines, so any 3.11.3 or later installs the same set) and carry the SHA-256 of every file PyPI publishes for each pinned version; scripts/bootstrap.sh
# installs them with `pip install --require-hashes`. The project's own three packages are not in the locks
# (no file to hash): bootstrap.sh installs them from this checkout, without the index.
# The dev lock is constrained by the runtime lock: the tests run the versions the deploy installs
# (tests/supply_chain/test_locks.py checks them, and that they match the pins).
set -euo pipefail
cd "$(dirname "$0")/.."

uv=${UV:-.venv/bin/uv}
[ -x "$uv" ] || { echo "lock: $uv not found; run scripts/bootstrap.sh first (uv is pinned in requirements-dev.txt)" >&2; exit 2; }
compile=("$uv" pip compile --quiet --generate-hashes --python-version 3.11.7 --python-platform x86_64-unknown-linux-gnu
  --no-emit-package webex-cloud --no-emit-package webex-policies --no-emit-package webex-scheduler-filters)

# uv writes the local packages as `-e` lines even when told not to emit them; pip cannot hash a folder.
drop_local() { awk '/^-e /{skip=1; next} skip && /^    #/{next} {skip=0; print}'; }

lock() { # lock OUTPUT COMMAND-SHOWN-IN-THE-HEADER INPUTS...
  local out=$1 shown=$2 tmp
  shift 2
  tmp=$(mktemp)
  UV_CUSTOM_COMPILE_COMMAND="$shown" "${compile[@]}" "$@" -o "$tmp"
  drop_local < "$tmp" > "$out.new"
  rm -f "$tmp"
  mv "$out.new" "$out"
  echo "lock: $out: $(grep -c '^[A-Za-z0-9_.-]*==' "$out") packages"
}

lock requirements.lock "bash scripts/lock.sh" requirements.txt requirements-build.txt -c constraints/resolver.txt
lock requirements-build.lock "bash scripts/lock.sh" requirements-build.txt -c requirements.lock
lock requirements-dev.lock "bash scripts/lock.sh" requirements-dev.txt requirements-build.txt \
  -c constraints/openstack.txt -c constraints/resolver.txt -c requirements.lock
