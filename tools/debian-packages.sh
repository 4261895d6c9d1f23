# shellcheck shell=bash
# install_debian_packages WHO PACKAGE...: install Debian 12 packages the tests run, once. Idempotent:
# nothing is done when every one is installed. Needs root. No daemon is started: policy-rc.d denies the
# packages' own starts (the tests start what they need, with their own configs, and stop it).
# Sourced by tools/monitoring/install.sh and tools/sshd/install.sh; WHO names the caller in messages.
install_debian_packages() {
  local who=$1 installed log
  shift
  installed=$(dpkg-query -W -f='${db:Status-Status}\n' "$@" 2>/dev/null | grep -cx installed || true)
  if ((installed == $#)); then
    return 0
  fi
  if ((EUID != 0)); then
    echo "$who: installing $* needs root (Debian 12)" >&2
    return 1
  fi
  [[ -e /usr/sbin/policy-rc.d ]] || printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  log=$(mktemp)
  if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q \
    --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "$@"; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "$who: FAILED to install $* (log: $log)" >&2
    return 1
  fi
  rm -f "$log"
  echo "$who: installed $*"
}
