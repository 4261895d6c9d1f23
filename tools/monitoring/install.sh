#!/usr/bin/env bash
# Install the tools that check (and, on the monitoring nodes, run) the generated monitoring: Debian
# bookworm's prometheus 2.42 (promtool), prometheus-alertmanager 0.25 (amtool) and
# prometheus-blackbox-exporter 0.23, and rsyslog 8.2302 with its TLS driver (rsyslogd -N1 checks the generated
# log shipping). Idempotent: nothing is done when they are installed. Root, Debian 12.
# No daemon is started: policy-rc.d denies the packages' own starts (the tests run the tools, not services).
# See docs/monitoring.md.
set -euo pipefail

PACKAGES=(prometheus prometheus-alertmanager prometheus-blackbox-exporter rsyslog rsyslog-gnutls)

installed=$(dpkg-query -W -f='${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null | grep -cx installed || true)
if ((installed == ${#PACKAGES[@]})); then
  exit 0
fi
if ((EUID != 0)); then
  echo "tools/monitoring/install.sh: installing ${PACKAGES[*]} needs root (Debian 12)" >&2
  exit 1
fi
[[ -e /usr/sbin/policy-rc.d ]] || printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
log=$(mktemp)
if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q \
  --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${PACKAGES[@]}"; } >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "tools/monitoring/install.sh: FAILED to install ${PACKAGES[*]} (log: $log)" >&2
  exit 1
fi
rm -f "$log"
echo "tools/monitoring/install.sh: installed $(promtool --version 2>&1 | head -n 1)"
