#!/usr/bin/env bash
# One fake compute host's nova-compute, for tests that take a host down and bring it back.
#
#   compute.sh restart HOST     stop, start, then exit 0 once it reported since the start (up, or
#                               forced down by an admin: exit 1 after at most 120 s)
#   compute.sh stop HOST        stop it: the host died (Nova sees it down after service_down_time,
#                               60 s, or at once when an admin forces it down); `restart` brings it back
#
# HOST is one of COMPUTES (lib.sh). Restarting is what Nova asks for after an evacuation: the compute's
# start-up (init_host) deletes the evacuated instances' leftovers and moves the `done` evacuation
# migrations to `completed`; until then `PUT /os-services/{id} {"forced_down": false}` is refused.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

(($# == 2)) && [[ $1 == restart || $1 == stop ]] || usage
[[ " ${COMPUTES[*]} " == *" $2 "* ]] || { log "unknown compute host $2 (known: ${COMPUTES[*]})"; exit 2; }
svc_stop "$2"
[[ $1 == restart ]] || exit 0
svc_start "$2"
wait_for 120 "nova-compute on $2" loopback_py service-up --binary nova-compute --host "$2" --forced-down-ok \
  --since "$(cat "$RUN/$2.started")" || die_with_logs "nova-compute on $2 not up after restart" "$2"
