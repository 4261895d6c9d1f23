#!/usr/bin/env bash
# Copy the loopback cloud's logs, rendered configs and process state into DEST (a CI artifact folder).
# Works whether the cloud is up, half up or down.   usage: collect-logs.sh DEST
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

dest=${1:?usage: collect-logs.sh DEST}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)  # absolute: the config copy below runs from another directory
[[ -d $LOG ]] && cp -r "$LOG" "$dest/log"
[[ -d $ETC ]] && cp -r "$ETC" "$dest/etc"
# The controllers' config dirs, without the installed wheels.
[[ -d $CTL ]] && (cd "$ROOT" && find ctl -name '*.conf' -print0 | xargs -0r cp --parents -t "$dest")
{
  for name in "${SERVICES[@]}"; do
    if pid=$(svc_pid "$name"); then echo "$name running pid $pid"; else echo "$name not running"; fi
  done
  echo
  ps -eo pid,pgid,rss,etime,args --sort=pgid
  echo
  free -m
} >"$dest/processes.txt" 2>&1
if svc_running keystone; then
  for what in "compute service list" "hypervisor list" "volume service list" "volume backend pool list --long"; do
    # shellcheck disable=SC2086  # word splitting of the subcommand is intended
    echo "\$ openstack $what" && timeout 60 openstack $what 2>&1
  done >"$dest/services.txt" 2>&1 || true
fi
log "collected into $dest"
