#!/usr/bin/env bash
# One scheduler process of one controller role: the hooks of the rolling filter deployment.
#
#   scheduler.sh paths CONTROLLER                   shell assignments: config dirs, site dir, python
#   scheduler.sh restart nova|cinder CONTROLLER [FILTER...]   stop, start, then health (below)
#   scheduler.sh start|stop nova|cinder CONTROLLER
#   scheduler.sh health nova|cinder CONTROLLER [FILTER...]
#       exit 0 once the scheduler runs, reported up since it started, and its log shows the enabled
#       filters, each FILTER among them; exit 1 (after at most 120 s) otherwise.
#
# CONTROLLER is ctl-1 or ctl-2. Each has its own nova-scheduler and cinder-scheduler ([DEFAULT] host =
# CONTROLLER), its own config dirs (read after the shared nova.conf/cinder.conf, *.conf in name order;
# 00-controller.conf is up.sh's) and its own site dir, first on both schedulers' PYTHONPATH: install the
# filter wheel there with any pip, e.g. `pip install --no-deps --target "$SITE_DIR" --upgrade x.whl`.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

check_controller() {
  [[ " ${CONTROLLERS[*]} " == *" $1 "* ]] || { log "unknown controller $1 (known: ${CONTROLLERS[*]})"; exit 2; }
}

cmd=${1:-}
case $cmd in
  paths)
    (($# == 2)) || usage
    check_controller "$2"
    printf 'NOVA_CONFIG_DIR=%q\nCINDER_CONFIG_DIR=%q\nSITE_DIR=%q\nSCHEDULER_PYTHON=%q\n' \
      "$CTL/$2/nova-scheduler.d" "$CTL/$2/cinder-scheduler.d" "$CTL/$2/site" "$PY" ;;
  start | stop | restart | health)
    (($# >= 3)) || usage
    [[ $2 == nova || $2 == cinder ]] || usage
    check_controller "$3"
    name=$2-scheduler-$3
    case $cmd in
      start) svc_ensure "$name" ;;
      stop) svc_stop "$name" ;;
      restart)
        svc_stop "$name"
        svc_start "$name"
        scheduler_health "$2" "$3" "${@:4}" || die_with_logs "$name unhealthy after restart" "$name" ;;
      health) scheduler_health "$2" "$3" "${@:4}" ;;
    esac ;;
  *) usage ;;
esac
