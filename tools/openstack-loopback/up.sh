#!/usr/bin/env bash
# Install, configure and start the loopback OpenStack (Debian bookworm's Zed packages) and wait until
# every API answers and every service reports up. Idempotent: a second run only checks (and restarts
# services whose configuration changed). State lives in $WEBEX_LOOPBACK_ROOT (/var/lib/webex-loopback).
# Everything listens on 127.0.0.1. See docs/openstack-loopback.md.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

PACKAGES=(mariadb-server rabbitmq-server keystone placement-api glance-api neutron-server
  nova-api nova-conductor nova-scheduler python3-nova cinder-api cinder-scheduler cinder-volume
  python3-openstackclient uwsgi-core uwsgi-plugin-python3 curl)
# The cloud's fixed ports and topology: one environment per machine.
API_PORTS=(5000 8778 9292 9696 8774 8776)
SHARED_HOST=loopback
# The b-backends (storage zone nova) and the family named after the volume type ssd (zone az-ssd).
BACKENDS=(storage-a@b1=fd-a storage-a@b2=fd-a storage-b@b3=fd-b ssd-a1@ssd=fd-a ssd-a2@ssd=fd-a ssd-b1@ssd=fd-b)
T0=$SECONDS

step() { log "$* (+$((SECONDS - T0))s)"; }

install_packages() {
  local installed
  installed=$(dpkg-query -W -f='${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null | grep -cx installed || true)
  if ((installed != ${#PACKAGES[@]})); then
    step "installing ${#PACKAGES[@]} packages"
    # Without systemd the packages' init scripts would start daemons with the packaged configs (or fail
    # noisily): deny every start during the install; this tooling starts what it needs itself.
    [[ -e /usr/sbin/policy-rc.d ]] || printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${PACKAGES[@]}"; } >"$LOG/apt.log" 2>&1; then
      tail -n 40 "$LOG/apt.log" >&2
      log "FAILED: package installation (full log: $LOG/apt.log)"
      exit 1
    fi
    step "packages installed"
  fi
}

# mv_if_changed FILE: replace FILE by FILE.new unless equal, so that an unchanged file keeps its mtime.
mv_if_changed() { if cmp -s "$1.new" "$1"; then rm -f "$1.new"; else mv "$1.new" "$1"; fi; }

# render TEMPLATE DEST: @VAR@ placeholders, and whole-line @AUTHTOKEN:user@ / @SERVICEAUTH:user@ blocks.
render() {
  local line user
  while IFS= read -r line; do
    if [[ $line =~ ^@(AUTHTOKEN|SERVICEAUTH):([a-z]+)@$ ]]; then
      user=${BASH_REMATCH[2]}
      if [[ ${BASH_REMATCH[1]} == AUTHTOKEN ]]; then
        printf 'www_authenticate_uri = http://127.0.0.1:5000\nauth_url = http://127.0.0.1:5000\n'
      else
        printf 'auth_url = http://127.0.0.1:5000/v3\nregion_name = RegionOne\n'
      fi
      printf 'auth_type = password\nproject_domain_name = Default\nuser_domain_name = Default\n'
      printf 'project_name = service\nusername = %s\npassword = os\n' "$user"
    else
      line=${line//@DATA@/$DATA}
      line=${line//@ETC@/$ETC}
      line=${line//@LOG@/$LOG}
      line=${line//@RUN@/$RUN}
      printf '%s\n' "${line//@HOST@/$SHARED_HOST}"
    fi
  done <"$1" >"$2.new"
  mv_if_changed "$2"
}

# stock_controller CONTROLLER: drop every fragment but up.sh's own, the installed filter wheel and the
# rolling deploy's record of it (its state dir, SITE_DIR.deploy).
stock_controller() {
  local c=$1 leftovers
  leftovers=$(find "$CTL/$c" -mindepth 2 -maxdepth 2 \( -path "$CTL/$c/*-scheduler.d/*" ! -name 00-controller.conf \
    -o -path "$CTL/$c/site/*" -o -path "$CTL/$c/site.deploy/*" \) -print 2>/dev/null || true)
  [[ -n $leftovers ]] || return 0
  log "$c: its schedulers are stopped; removing a filter deployment left behind, to start on the stock filters:"
  sed 's/^/  /' <<<"$leftovers" >&2
  find "$CTL/$c" -mindepth 1 -maxdepth 1 -name '*-scheduler.d' -exec find {} -mindepth 1 ! -name 00-controller.conf -delete \;
  rm -rf "$CTL/$c/site" "$CTL/$c/site.deploy"
}

write_configs() {
  local f h c svc
  mkdir -p "$ETC/placement" "$ETC/compute" "$LOG/rabbitmq" "$RUN" "$DATA"/{nova,cinder,neutron}/lock \
    "$DATA/glance-images" "$DATA/glance-staging" "$DATA/glance-tasks" "$DATA/rabbitmq" "$DATA/keystone-fernet" \
    "$DATA/keystone-credential"
  for f in "$TOOLS"/etc/*.conf "$TOOLS"/etc/*-policy.yaml "$TOOLS"/etc/my.cnf; do
    case ${f##*/} in
      placement.conf) render "$f" "$ETC/placement/placement.conf" ;;
      *) render "$f" "$ETC/${f##*/}" ;;
    esac
  done
  for h in "${COMPUTES[@]}"; do
    printf '[DEFAULT]\nhost = %s\n' "$h" >"$ETC/compute/$h.conf.new"
    mv_if_changed "$ETC/compute/$h.conf"
  done
  # One config dir and one site dir per controller: the hooks of the rolling deployment (scheduler.sh).
  for c in "${CONTROLLERS[@]}"; do
    # A deployment does not outlive its schedulers: a controller whose schedulers are both stopped (a first
    # start, down.sh, a machine that stopped in the middle of a rollout) starts on the stock filters, the
    # state every test expects at the start. A controller that runs is left as it is.
    if ! svc_running "nova-scheduler-$c" && ! svc_running "cinder-scheduler-$c"; then
      stock_controller "$c"
    fi
    mkdir -p "$CTL/$c/site"
    for svc in nova cinder; do
      mkdir -p "$CTL/$c/$svc-scheduler.d"
      # debug: the options dump at start (which names the enabled filters) is the health check's proof.
      printf '# Written by up.sh: this controller'"'"'s identity. Fragments go in other files.\n[DEFAULT]\nhost = %s\ndebug = True\n' \
        "$c" >"$CTL/$c/$svc-scheduler.d/00-controller.conf.new"
      mv_if_changed "$CTL/$c/$svc-scheduler.d/00-controller.conf"
    done
  done
  cat >"$ROOT/clouds.yaml.new" <<EOF
# Written by tools/openstack-loopback/up.sh: the admin of the loopback cloud.
clouds:
  loopback:
    auth:
      auth_url: http://127.0.0.1:5000/v3
      username: admin
      password: admin
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
    interface: public
EOF
  mv_if_changed "$ROOT/clouds.yaml"
  cat >"$ROOT/openrc.new" <<EOF
# Written by tools/openstack-loopback/up.sh: source it to use the openstack CLI on the loopback cloud.
export OS_CLIENT_CONFIG_FILE=$ROOT/clouds.yaml
export OS_CLOUD=loopback
EOF
  mv_if_changed "$ROOT/openrc"
}


mysql_root() { mariadb --defaults-file="$ETC/my.cnf" "$@"; }
rabbitmqctl_() {
  svc_spec rabbitmq
  env "${SVC_ENV[@]}" /usr/lib/rabbitmq/bin/rabbitmqctl "$@"
}

rabbitmq_user() {
  rabbitmqctl_ -q list_users | grep -q '^os\b' || rabbitmqctl_ -q add_user os os
  rabbitmqctl_ -q set_permissions os '.*' '.*' '.*'
}

start_infra() {
  svc_ensure epmd
  if [[ ! -d $DATA/mysql/mysql ]]; then
    step "initialising MariaDB"
    mariadb-install-db --defaults-file="$ETC/my.cnf" --user=root --skip-test-db \
      >"$LOG/mariadb-install.log" 2>&1 || die_with_logs "mariadb-install-db" mariadb-install
  fi
  svc_ensure mariadb
  wait_for 60 MariaDB mysql_root -e 'SELECT 1' || die_with_logs "MariaDB did not start" mariadb
  local db sql=""
  for db in keystone placement nova_api nova nova_cell0 cinder neutron glance; do
    sql+="CREATE DATABASE IF NOT EXISTS $db; GRANT ALL ON $db.* TO 'os'@'127.0.0.1' IDENTIFIED BY 'os'; "
  done
  mysql_root -e "$sql"
  svc_ensure rabbitmq
  # Each rabbitmqctl call boots an Erlang VM: skip them when rabbit was already running and set up.
  if ((SVC_STARTED)) || [[ ! -e $DATA/done-rabbitmq-user ]]; then
    wait_for 120 RabbitMQ rabbitmqctl_ -q await_startup || die_with_logs "RabbitMQ did not start" rabbitmq
  fi
  once rabbitmq-user rabbitmq_user || die_with_logs "RabbitMQ user" rabbitmq
}

# once NAME COMMAND...: run a setup step the first time only (DB schema syncs and the like take seconds).
once() {
  local name=$1
  shift
  [[ -e $DATA/done-$name ]] && return 0
  if "$@" >"$LOG/setup-$name.log" 2>&1; then
    touch "$DATA/done-$name"
  else
    log "setup step $name failed:"
    tail -n 40 "$LOG/setup-$name.log" >&2
    return 1
  fi
}

keystone_setup() {
  local k=(keystone-manage --config-file "$ETC/keystone.conf")
  "${k[@]}" db_sync
  "${k[@]}" fernet_setup --keystone-user root --keystone-group root
  "${k[@]}" credential_setup --keystone-user root --keystone-group root
  "${k[@]}" bootstrap --bootstrap-password admin --bootstrap-region-id RegionOne \
    --bootstrap-admin-url http://127.0.0.1:5000/v3/ --bootstrap-internal-url http://127.0.0.1:5000/v3/ \
    --bootstrap-public-url http://127.0.0.1:5000/v3/
}

nova_db_setup() {
  local n=(nova-manage --config-file "$ETC/nova.conf")
  "${n[@]}" api_db sync
  "${n[@]}" cell_v2 map_cell0
  "${n[@]}" cell_v2 list_cells | grep -q ' cell1 ' || "${n[@]}" cell_v2 create_cell --name cell1
  "${n[@]}" db sync
}

http_answers() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/"; }

start_openstack() {
  once keystone keystone_setup || die_with_logs "keystone setup" keystone
  svc_ensure keystone
  wait_for 60 "Keystone API" http_answers 5000 || die_with_logs "Keystone did not answer" keystone
  step "syncing databases"
  # The schema syncs are independent of each other and of the Keystone objects: run them side by side.
  # keystone-objects-2: the step gained the service users' role `service` (loopback.py); the new marker
  # runs the (idempotent) step once more in an environment set up before.
  local pids=() names=(keystone-objects-2 placement-db nova-db cinder-db neutron-db glance-db) i failed=()
  once keystone-objects-2 loopback_py keystone & pids+=($!)
  once placement-db placement-manage --config-file "$ETC/placement/placement.conf" db sync & pids+=($!)
  once nova-db nova_db_setup & pids+=($!)
  once cinder-db cinder-manage --config-file "$ETC/cinder.conf" db sync & pids+=($!)
  once neutron-db neutron-db-manage --config-file "$ETC/neutron.conf" upgrade heads & pids+=($!)
  once glance-db glance-manage --config-file "$ETC/glance-api.conf" db_sync & pids+=($!)
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || failed+=("${names[$i]}"); done
  ((${#failed[@]} == 0)) || die_with_logs "setup failed: ${failed[*]}" keystone
  step "starting services"
  local name
  for name in "${SERVICES[@]}"; do
    case $name in epmd | mariadb | rabbitmq | keystone) ;; *) svc_ensure "$name" ;; esac
  done
  local port
  for port in "${API_PORTS[@]}"; do
    wait_for 180 "API on port $port" http_answers "$port" || die_with_logs "no API on port $port" "${SERVICES[@]}"
  done
}

wait_until_ready() {
  local c svc since=()
  # Map the computes to the cell once they all exist (idempotent), instead of a periodic discovery that
  # two schedulers would race on. Checked in the DB: an API round trip costs seconds here.
  if (($(mysql_root -N -e 'SELECT COUNT(*) FROM nova_api.host_mappings') < ${#COMPUTES[@]})); then
    loopback_py wait-computes --computes "${COMPUTES[@]}" ||
      die_with_logs "nova-compute services not up" "${COMPUTES[@]}" nova-conductor
    nova-manage --config-file "$ETC/nova.conf" cell_v2 discover_hosts >>"$LOG/setup-discover-hosts.log" 2>&1 ||
      die_with_logs "nova-manage cell_v2 discover_hosts" nova-conductor
  fi
  for c in "${CONTROLLERS[@]}"; do
    for svc in nova cinder; do since+=("$svc-scheduler@$c=$(cat "$RUN/$svc-scheduler-$c.started")"); done
  done
  loopback_py ready --computes "${COMPUTES[@]}" --controllers "${CONTROLLERS[@]}" --conductor "$SHARED_HOST" \
    --backends "${BACKENDS[@]}" --since "${since[@]}" || die_with_logs "services not ready" "${SERVICES[@]:4}"
  for c in "${CONTROLLERS[@]}"; do
    for svc in nova cinder; do
      scheduler_filters_line "$svc" "$c" >/dev/null ||
        die_with_logs "$svc-scheduler on $c logged no enabled filters" "$svc-scheduler-$c"
    done
  done
}

main() {
  mkdir -p "$ROOT" "$LOG" /run/lock
  # Fixed ports: one environment per machine, and two engineers running up.sh at once must not interleave.
  exec 9>/run/lock/webex-loopback.lock
  flock -w 900 9 || { log "another up.sh/down.sh holds /run/lock/webex-loopback.lock"; exit 1; }
  install_packages
  write_configs
  start_infra
  step "infrastructure up"
  start_openstack
  step "APIs answer"
  wait_until_ready
  step "ready: OS_CLIENT_CONFIG_FILE=$ROOT/clouds.yaml OS_CLOUD=loopback (or: source $ROOT/openrc)"
}

main "$@"
