#!/usr/bin/env bash
# Schemathesis (`--checks all`) against the OpenAPI document a freshly started local gateway
# serves, with the settings of infra/schemathesis/schemathesis.toml (deterministic; see there
# what is left out and why). Run by scripts/test.sh; by hand:
#   infra/scripts/schemathesis.sh [EXTRA SCHEMATHESIS RUN ARGS]   e.g. --max-examples 200
# Needs infra/scripts/setup.sh (schemathesis in infra/.venv) and builds `pixgw` if needed.
# Knob: PIXGW_SCHEMATHESIS (the schemathesis executable; default infra/.venv/bin/schemathesis).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
python="$root/infra/.venv/bin/python"
schemathesis="${PIXGW_SCHEMATHESIS:-$root/infra/.venv/bin/schemathesis}"
[[ -x "$schemathesis" ]] || { echo "schemathesis.sh: $schemathesis missing; run infra/scripts/setup.sh" >&2; exit 1; }

cargo build --quiet -p pixgw
target_dir="$(cargo metadata --format-version 1 --no-deps | "$python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
data_dir="$(mktemp -d "${TMPDIR:-/tmp}/pixgw-schemathesis.XXXXXX")"
base="http://127.0.0.1:$port"

gateway_pid=""
stop() {
  if [[ -n "$gateway_pid" ]]; then
    kill "$gateway_pid" 2>/dev/null || true
    wait "$gateway_pid" 2>/dev/null || true
  fi
  rm -rf "$data_dir"
}
trap stop EXIT

RUST_LOG=warn "$target_dir/debug/pixgw" serve --port "$port" --data-dir "$data_dir" \
  >"$data_dir/gateway.log" 2>&1 &
gateway_pid=$!

# The demo account's credentials (written at start-up) → a token and its DigitalSignature.
read -r token signature < <("$python" - "$base" "$data_dir" "$gateway_pid" <<'PY'
import hashlib, hmac, json, os, sys, time, urllib.request
base, data_dir, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
deadline = time.time() + 60
while True:
    try:
        account = json.load(open(os.path.join(data_dir, "demo-account.json")))
        body = json.dumps({"clientId": account["clientId"], "clientSecret": account["clientSecret"]})
        request = urllib.request.Request(base + "/api/auth/token", data=body.encode(),
                                         headers={"Content-Type": "application/json"})
        token = json.load(urllib.request.urlopen(request, timeout=5))["accessToken"]
        break
    except (OSError, ValueError, KeyError):
        os.kill(pid, 0)  # the gateway died: stop waiting
        if time.time() > deadline:
            sys.exit("schemathesis.sh: the gateway did not answer within 60 s")
        time.sleep(0.2)
signature = hmac.new(account["cryptoToken"].encode(), token.encode(), hashlib.sha256).hexdigest()
print(token, signature)
PY
) || { echo "schemathesis.sh: gateway log:" >&2; cat "$data_dir/gateway.log" >&2; exit 1; }

# Every check runs: schemathesis 4 enables all of them by default, which is `--checks all`.
# (Passing `--checks all` would also override the config's per-operation exclusions.)
"$schemathesis" --config-file infra/schemathesis/schemathesis.toml run "$base/api/openapi.json" \
  --url "$base" -H "Authorization: Bearer $token" -H "DigitalSignature: $signature" "$@"
