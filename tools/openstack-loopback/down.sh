#!/usr/bin/env bash
# Stop every service of the loopback cloud by the PID up.sh recorded (each service's process group),
# in reverse start order, and wait until each is gone. Idempotent; keeps the state dir (rm -rf it to
# start from scratch).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

[[ -d $RUN ]] || exit 0
exec 9>/run/lock/webex-loopback.lock
flock -w 900 9 || { log "another up.sh/down.sh holds /run/lock/webex-loopback.lock"; exit 1; }
for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
  svc_stop "${SERVICES[$i]}"
done
