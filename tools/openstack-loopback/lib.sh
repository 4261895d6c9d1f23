# shellcheck shell=bash disable=SC2034  # the variables are for the scripts that source this
# Shared by up.sh, down.sh, scheduler.sh and collect-logs.sh: where things live and how one
# service is started, stopped and checked. Sourced, never run.

TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=${WEBEX_LOOPBACK_ROOT:-/var/lib/webex-loopback}
ETC=$ROOT/etc
LOG=$ROOT/log
RUN=$ROOT/run
DATA=$ROOT/data
CTL=$ROOT/ctl
export OS_CLIENT_CONFIG_FILE=$ROOT/clouds.yaml OS_CLOUD=loopback
# Debian's interpreter and packages, never a virtualenv or pyenv shim that may come first on PATH.
PY=/usr/bin/python3

CONTROLLERS=(ctl-1 ctl-2)
# Four hosts for the zoned tests (dc1-az1, dc1-az2) and two spares: a four-pod service whose host is
# lost or drained needs a fifth, free host to place the pod again (evacuate, cold migrate).
COMPUTES=(fake-host-1 fake-host-2 fake-host-3 fake-host-4 fake-host-5 fake-host-6)
# In start order: infrastructure, identity, then everything that needs a token or the bus.
SERVICES=(epmd mariadb rabbitmq keystone placement glance-api neutron-server
  nova-api nova-conductor nova-scheduler-ctl-1 nova-scheduler-ctl-2 "${COMPUTES[@]}"
  cinder-api cinder-scheduler-ctl-1 cinder-scheduler-ctl-2 cinder-volume-storage-a cinder-volume-storage-b
  cinder-volume-ssd-a1 cinder-volume-ssd-a2 cinder-volume-ssd-b1)

# Debian's nova-compute package pulls libvirt and qemu (~60 packages) that the fake driver never uses;
# python3-nova has the code, so the entry point is called directly. Nova loads its compute driver from
# the nova.virt package only (nova/virt/driver.py load_compute_driver): the loopback's driver
# (nova_driver/, on the computes' PYTHONPATH) is registered there first.
NOVA_COMPUTE_MAIN='import sys, loopback_nova_driver
sys.modules["nova.virt.loopback_nova_driver"] = loopback_nova_driver
from nova.cmd.compute import main; sys.exit(main())'

log() { printf '%s [loopback] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# svc_spec NAME: sets SVC_CMD (argv), SVC_ENV (VAR=value list) and SVC_CONF (files and config dirs whose
# content, with the command, decides whether a running service is stale).
svc_spec() {
  local name=$1
  SVC_ENV=()
  SVC_CONF=()
  local oslo_log=(--log-file "$LOG/$name.log")
  case $name in
    epmd)
      # Started by us (not by Erlang as a daemon) so that it has a PID to stop and listens on loopback only.
      SVC_CMD=(epmd -address 127.0.0.1) ;;
    mariadb)
      SVC_CONF=("$ETC/my.cnf")
      SVC_CMD=(/usr/sbin/mariadbd --defaults-file="$ETC/my.cnf" --user=root) ;;
    rabbitmq)
      SVC_ENV=(HOME="$DATA/rabbitmq" RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
        ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_MNESIA_BASE="$DATA/rabbitmq/mnesia"
        RABBITMQ_LOG_BASE="$LOG/rabbitmq"
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}")
      SVC_CMD=(/usr/lib/rabbitmq/bin/rabbitmq-server) ;;
    keystone | placement)
      local wsgi=/usr/bin/keystone-wsgi-public port=5000
      SVC_ENV=(OS_KEYSTONE_CONFIG_FILES="$ETC/keystone.conf")
      SVC_CONF=("$ETC/keystone.conf")
      if [[ $name == placement ]]; then
        wsgi=/usr/bin/placement-api port=8778
        SVC_ENV=(OS_PLACEMENT_CONFIG_DIR="$ETC/placement")
        SVC_CONF=("$ETC/placement/placement.conf")
      fi
      # --http11-socket + --so-keepalive: with --http-socket, keystoneauth's keep-alive connections get
      # reset (503 "Keystone service is temporarily unavailable"). --die-on-term: else SIGTERM = reload.
      SVC_CMD=(uwsgi --plugin python3 --http11-socket "127.0.0.1:$port" --so-keepalive --wsgi-file "$wsgi"
        --processes 1 --threads 4 --master --die-on-term --lazy-apps --logto "$LOG/$name-uwsgi.log") ;;
    glance-api)
      SVC_CONF=("$ETC/glance-api.conf")
      SVC_CMD=(glance-api --config-file "$ETC/glance-api.conf" "${oslo_log[@]}") ;;
    neutron-server)
      SVC_CONF=("$ETC/neutron.conf")
      SVC_CMD=(neutron-server --config-file "$ETC/neutron.conf" "${oslo_log[@]}") ;;
    nova-api | nova-conductor)
      SVC_CONF=("$ETC/nova.conf")
      SVC_CMD=("$name" --config-file "$ETC/nova.conf" "${oslo_log[@]}") ;;
    fake-host-*)
      SVC_ENV=(PYTHONPATH="$TOOLS/nova_driver")
      SVC_CONF=("$ETC/nova.conf" "$ETC/compute/$name.conf" "$TOOLS/nova_driver/loopback_nova_driver.py")
      SVC_CMD=("$PY" -c "$NOVA_COMPUTE_MAIN" --config-file "$ETC/nova.conf"
        --config-file "$ETC/compute/$name.conf" "${oslo_log[@]}") ;;
    nova-scheduler-ctl-* | cinder-scheduler-ctl-*)
      local svc=${name%%-*} ctl=ctl-${name##*-ctl-}
      # The controller's own site dir comes first on the path: that is where its filter wheel goes.
      SVC_ENV=(PYTHONPATH="$CTL/$ctl/site")
      SVC_CONF=("$ETC/$svc.conf" "$CTL/$ctl/$svc-scheduler.d")
      SVC_CMD=("$svc-scheduler" --config-file "$ETC/$svc.conf" --config-dir "$CTL/$ctl/$svc-scheduler.d"
        "${oslo_log[@]}") ;;
    cinder-api)
      SVC_CONF=("$ETC/cinder.conf")
      SVC_CMD=(cinder-api --config-file "$ETC/cinder.conf" "${oslo_log[@]}") ;;
    cinder-volume-*)
      SVC_ENV=(PYTHONPATH="$TOOLS/cinder_driver")
      SVC_CONF=("$ETC/cinder.conf" "$ETC/$name.conf" "$TOOLS/cinder_driver/loopback_cinder_driver.py")
      SVC_CMD=(cinder-volume --config-file "$ETC/cinder.conf" --config-file "$ETC/$name.conf" "${oslo_log[@]}") ;;
    *)
      log "unknown service $name"
      return 1 ;;
  esac
}

# The fingerprint of what a service was started with: command, environment and config content.
svc_fingerprint() {
  local f
  {
    printf '%s\n' "${SVC_CMD[@]}" "${SVC_ENV[@]}"
    for f in "${SVC_CONF[@]}"; do
      if [[ -d $f ]]; then
        find "$f" -maxdepth 1 -name '*.conf' -type f -print0 | sort -z | xargs -0r cat
      else
        cat "$f"
      fi
    done
  } | sha256sum | cut -d' ' -f1
}

# Each service runs in its own session (setsid), so its process group id is its PID and stopping the
# group also ends the workers it forked (oslo worker processes, uWSGI workers, Erlang helpers).
svc_pid() {
  local pid since
  pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
  [[ -n $pid ]] && kill -0 -- "-$pid" 2>/dev/null || return 1
  # A pid file outlives its process when the machine stops (or its disk is copied to another one): the
  # group found must be the one started here, not a later process that got the same id.
  since=$(cat "$RUN/$1.since" 2>/dev/null) || since=
  if [[ -n $since && -e /proc/$pid ]] && [[ $(proc_start "$pid") != "$since" ]]; then return 1; fi
  echo "$pid"
}

# proc_start PID: when the process started, in clock ticks since boot (proc(5), /proc/PID/stat field 22;
# the fields after the command name, which may hold spaces).
proc_start() {
  local stat fields
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  read -r -a fields <<<"$stat"
  echo "${fields[19]}"
}

svc_running() { svc_pid "$1" >/dev/null; }

svc_start() {
  local name=$1 pid
  svc_spec "$name"
  mkdir -p "$LOG" "$RUN"
  # Where this start's log begins, so health checks read only what the new process wrote.
  stat -c %s "$LOG/$name.log" 2>/dev/null >"$RUN/$name.logpos" || echo 0 >"$RUN/$name.logpos"
  date -u +%s >"$RUN/$name.started"
  svc_fingerprint >"$RUN/$name.fingerprint"
  printf '\n=== %s start %s\n' "$name" "$(date -u +%FT%TZ)" >>"$LOG/$name.out"
  # Every descriptor above stderr closed: a lock up.sh holds (fd 9), or one its caller took with
  # `flock FILE up.sh`, must not outlive up.sh in the services it starts (they would hold it for good).
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      ((fd > 2)) && eval "exec $fd>&-"
    done
    exec setsid env "${SVC_ENV[@]}" "${SVC_CMD[@]}"
  ) >>"$LOG/$name.out" 2>&1 </dev/null &
  pid=$!
  proc_start "$pid" >"$RUN/$name.since" || rm -f "$RUN/$name.since"
  echo "$pid" >"$RUN/$name.pid"
  # The child becomes its own process group only once it has called setsid(); on a loaded machine
  # that can be well after `&` returns, and until then svc_pid (which looks the group up) would call
  # a healthy start "not running". Wait for the group, or for the child to have died.
  local i
  for i in $(seq 600); do
    kill -0 -- "-$pid" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  log "started $name (pid $pid)"
}

svc_stop() {
  local name=$1 pid i
  pid=$(svc_pid "$name") || { rm -f "$RUN/$name.pid"; return 0; }
  kill -TERM -- "-$pid" 2>/dev/null || true
  for i in $(seq 300); do
    kill -0 -- "-$pid" 2>/dev/null || break
    # Escalate after 30 s: a service that ignores SIGTERM must not block a restart.
    if ((i == 300)); then kill -KILL -- "-$pid" 2>/dev/null || true; fi
    sleep 0.1
  done
  while kill -0 -- "-$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$RUN/$name.pid"
  log "stopped $name (pid $pid)"
}

# svc_ensure NAME: start it if it is not running, restart it if its command or configuration changed;
# SVC_STARTED tells whether it did either.
svc_ensure() {
  local name=$1
  SVC_STARTED=0
  if svc_running "$name"; then
    svc_spec "$name"
    [[ $(svc_fingerprint) == "$(cat "$RUN/$name.fingerprint" 2>/dev/null)" ]] && return 0
    log "$name: configuration changed, restarting"
    svc_stop "$name"
  fi
  svc_start "$name"
  SVC_STARTED=1
}

# The files worth reading when something did not come up.
svc_logs() {
  local name=$1
  printf '%s\n' "$LOG/$name.out" "$LOG/$name.log" "$LOG/$name-uwsgi.log"
  [[ $name == mariadb ]] && echo "$LOG/mariadb.log"
  [[ $name == rabbitmq ]] && echo "$LOG/rabbitmq/rabbit@localhost.log"
  return 0
}

# die_with_logs MESSAGE NAME...: the tail of each named service's logs, then exit non-zero.
die_with_logs() {
  local msg=$1 name f
  shift
  log "FAILED: $msg"
  for name in "$@"; do
    while read -r f; do
      [[ -s $f ]] || continue
      printf '\n----- tail -n 40 %s\n' "$f" >&2
      tail -n 40 "$f" >&2
    done < <(svc_logs "$name")
  done
  log "all logs: $LOG (tools/openstack-loopback/collect-logs.sh copies them)"
  exit 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every half second until it succeeds.
wait_for() {
  local timeout=$1 what=$2 deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
  log "$what ready"
}

# The Python helper (Debian's python3 and openstacksdk, so it works before the project venv exists).
loopback_py() { "$PY" "$TOOLS/loopback.py" "$@"; }

# scheduler_filters_line nova|cinder CONTROLLER [FILTER...]: print the enabled-filters line that the
# scheduler started last on that controller logged; status 0 if each FILTER is in it, 1 if there is no
# such line (yet), 2 if the line lacks a FILTER (final: a running scheduler never reloads its filters).
# The filters are resolved when the scheduler's host manager is built, before the options are dumped
# (debug = True): an unknown filter name kills the process instead, so the line proves they loaded.
scheduler_filters_line() {
  local svc=$1 name=$1-scheduler-$2 opt line f
  shift 2
  case $svc in
    nova) opt='filter_scheduler\.enabled_filters' ;;
    cinder) opt='scheduler_default_filters' ;;
  esac
  # Not a pipe: grep -m1 exits at the first match, and tail's SIGPIPE would fail the pipeline.
  line=$(grep -Eo -m1 "$opt +=.*\]" < <(tail -c "+$(($(cat "$RUN/$name.logpos") + 1))" "$LOG/$name.log")) ||
    return 1
  echo "$line"
  for f in "$@"; do [[ $line == *"'$f'"* ]] || return 2; done
}

# scheduler_health nova|cinder CONTROLLER [FILTER...]: within 120 s, the scheduler started last on that
# controller is running, has logged its filters (each FILTER among them) and reported up since its start.
scheduler_health() {
  local svc=$1 ctl=$2 name=$1-scheduler-$2 line rc deadline=$((SECONDS + 120))
  while true; do
    svc_running "$name" || { log "$name is not running"; return 1; }
    rc=0
    line=$(scheduler_filters_line "$@") || rc=$?
    if ((rc == 2)); then
      log "$name unhealthy: logged filters: $line; expected among them: ${*:3}"
      return 1
    fi
    if ((rc == 0)) &&
      loopback_py service-up --binary "$svc-scheduler" --host "$ctl" --since "$(cat "$RUN/$name.started")"; then
      log "$name healthy: $line"
      return 0
    fi
    if ((SECONDS >= deadline)); then
      log "$name unhealthy after 120 s: logged filters: ${line:-none}; expected: ${*:3}"
      return 1
    fi
    sleep 1
  done
}
