#!/usr/bin/env bash
# Stop every service of the loopback cloud by the PID up.sh recorded (each service's process group)
# and wait until each is gone. Idempotent; keeps the state dir (rm -rf it to start from scratch).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

[[ -d $RUN ]] || exit 0
exec 9>/run/lock/webex-loopback.lock
flock -w 900 9 || { log "another up.sh/down.sh holds /run/lock/webex-loopback.lock"; exit 1; }
# The OpenStack services all at once (each takes 2-7 s to shut down gracefully: ~70 s one by one), then
# the bus, the database and epmd, which they need until they are gone.
pids=()
for name in "${SERVICES[@]:3}"; do # all but epmd, mariadb, rabbitmq (lib.sh lists them first)
  svc_stop "$name" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
for name in rabbitmq mariadb epmd; do svc_stop "$name"; done
