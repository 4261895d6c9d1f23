#!/usr/bin/env bash
# Install the tools that check (and, on the monitoring nodes, run) the generated monitoring: Debian
# bookworm's prometheus 2.42 (promtool), prometheus-alertmanager 0.25 (amtool) and
# prometheus-blackbox-exporter 0.23, and rsyslog 8.2302 with its TLS driver (rsyslogd -N1 checks the generated
# log shipping). Idempotent, root, Debian 12, no daemon started (tools/debian-packages.sh).
# See docs/monitoring.md.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../debian-packages.sh
source "$(dirname "$0")/../debian-packages.sh"

install_debian_packages tools/monitoring/install.sh \
  prometheus prometheus-alertmanager prometheus-blackbox-exporter rsyslog rsyslog-gnutls
