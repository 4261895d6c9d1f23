#!/usr/bin/env bash
# Install Debian bookworm's OpenSSH server (9.2), which tests/controller/test_reader_sshd.py runs on
# 127.0.0.1 to hold the drift reader's forced command to a real sshd. Idempotent: nothing is done when it
# is installed. Root, Debian 12. No daemon is started: policy-rc.d denies the package's own start (the
# test starts its own sshd, with its own config, keys and port, and stops it).
set -euo pipefail

if dpkg-query -W -f='${db:Status-Status}\n' openssh-server 2>/dev/null | grep -qx installed; then
  exit 0
fi
if ((EUID != 0)); then
  echo "tools/sshd/install.sh: installing openssh-server needs root (Debian 12)" >&2
  exit 1
fi
[[ -e /usr/sbin/policy-rc.d ]] || printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
log=$(mktemp)
if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q \
  --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  openssh-server; } >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "tools/sshd/install.sh: FAILED to install openssh-server (log: $log)" >&2
  exit 1
fi
rm -f "$log"
echo "tools/sshd/install.sh: installed $(/usr/sbin/sshd -V 2>&1 | head -n 1)"
