#!/usr/bin/env bash
# Install a hash lock into an environment: bash scripts/install-locked.sh PYTHON LOCK [--no-binary NAME]
# Every file pip fetches must match a SHA-256 the lock holds (--require-hashes: a swapped or re-uploaded
# file, or a requirement without a pinned version and hash, stops the install before anything is
# installed) and must be a wheel (--only-binary :all:: no package's setup.py or build backend runs), but
# for the packages named with --no-binary (PyPI has no wheel of them). Those are built without build
# isolation, with the setuptools and wheel already installed from requirements-build.lock: an isolated
# build would fetch its build tools from the index with no hash checked.
# scripts/bootstrap.sh calls it; tests/supply_chain/test_locks.py runs it against a local wheelhouse.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: bash scripts/install-locked.sh PYTHON LOCK [--no-binary NAME]..." >&2; exit 2; }
python=$1 lock=$2
shift 2
[ -f "$lock" ] || { echo "install-locked: $lock not found (scripts/lock.sh writes it)" >&2; exit 2; }
exec "$python" -m pip install -q --disable-pip-version-check --require-hashes --only-binary :all: \
  --no-build-isolation "$@" -r "$lock"
