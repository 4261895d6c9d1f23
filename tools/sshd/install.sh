#!/usr/bin/env bash
# Install Debian bookworm's OpenSSH server (9.2), which tests/controller/test_reader_sshd.py runs on
# 127.0.0.1 to hold the drift reader's forced command to a real sshd. Idempotent, root, Debian 12, no
# daemon started (tools/debian-packages.sh): the test starts its own sshd, with its own config, keys and
# port, and stops it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../debian-packages.sh
source "$(dirname "$0")/../debian-packages.sh"

install_debian_packages tools/sshd/install.sh openssh-server
