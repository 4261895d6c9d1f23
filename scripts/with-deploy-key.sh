#!/usr/bin/env bash
# Run one command with the controllers' deploy key in a private ssh-agent, and nowhere else:
#   CONTROLLER_SSH_KEY="$(cat key)" bash scripts/with-deploy-key.sh COMMAND [ARGS...]
#   DRIFT_READER_SSH_KEY="$(cat key)" WITH_KEY=DRIFT_READER_SSH_KEY bash scripts/with-deploy-key.sh COMMAND [ARGS...]
# deploy-stack.yml wraps `pulumi up` in it, with the key from the secret CONTROLLER_SSH_KEY of the
# datacenter's environment production-<stack>. The key goes to ssh-add on stdin (never to a file or an
# argument) and out of the command's environment; the command sees only SSH_AUTH_SOCK, which
# pulumi-command's remote connections use when they name no key. The agent listens in a folder only this
# user can enter, forgets the key after 90 minutes (the job's timeout) at the latest, and is killed when
# the command ends, whatever its result. Exit: the command's status; 2 when the key is missing or unusable.
# WITH_KEY names another variable to take the key from, never the deploy key's: DRIFT_READER_SSH_KEY (the
# drift step's controller read, a login that can run the controllers' read script and nothing else:
# docs/drift.md) or FACTS_PUSH_KEY (monitoring-facts.yml, the facts-only login of docs/monitoring.md), or
# both, comma-separated (WITH_KEY=FACTS_PUSH_KEY,DRIFT_READER_SSH_KEY: the facts job reads the controllers
# and pushes the facts in one command; each key opens its own forced-command login only). The deploy key
# never shares an agent with another key.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: CONTROLLER_SSH_KEY=... bash scripts/with-deploy-key.sh COMMAND [ARGS...]" >&2; exit 2; }
IFS=, read -r -a names <<< "${WITH_KEY:-CONTROLLER_SSH_KEY}"
declare -A keys=()
for name in "${names[@]}"; do
  case "$name" in
    CONTROLLER_SSH_KEY) where="the controllers' deploy key as the secret CONTROLLER_SSH_KEY of this stack's GitHub environment, production-<stack> (docs/state-backend.md)" ;;
    DRIFT_READER_SSH_KEY) where="the drift reader key (the private half of controllers.drift_reader.public_key) as the secret DRIFT_READER_SSH_KEY of this stack's GitHub environments drift-<stack> and production-<stack> (docs/drift.md)" ;;
    FACTS_PUSH_KEY) where="the facts key as the secret FACTS_PUSH_KEY of this stack's GitHub environment, drift-<stack> (docs/monitoring.md)" ;;
    *) echo "with-deploy-key: WITH_KEY=$name: give CONTROLLER_SSH_KEY, DRIFT_READER_SSH_KEY or FACTS_PUSH_KEY" >&2; exit 2 ;;
  esac
  if [ "$name" = CONTROLLER_SSH_KEY ] && [ "${#names[@]}" -gt 1 ]; then
    echo "with-deploy-key: WITH_KEY=$WITH_KEY: the deploy key never shares an agent with another key" >&2
    exit 2
  fi
  if [ -z "${!name:-}" ]; then
    echo "with-deploy-key: $name is empty: store $where" >&2
    exit 2
  fi
  keys[$name]=${!name}
done
unset CONTROLLER_SSH_KEY DRIFT_READER_SSH_KEY FACTS_PUSH_KEY
folder=$(mktemp -d)
chmod 700 "$folder"
eval "$(ssh-agent -s -a "$folder/agent.sock" -t 5400)" >/dev/null
trap 'ssh-agent -k >/dev/null 2>&1 || true; rm -rf "$folder"' EXIT
for name in "${names[@]}"; do
  if ! printf '%s\n' "${keys[$name]}" | ssh-add -q - 2>/dev/null; then
    echo "with-deploy-key: $name is not a private key ssh-add accepts (an OpenSSH or PEM key" \
      "without a passphrase)" >&2
    exit 2
  fi
done
unset keys
status=0
"$@" || status=$?
exit "$status"
