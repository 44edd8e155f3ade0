#!/usr/bin/env bash
# The project's test command. Runs from any directory:
#   ./scripts/test.sh [EXTRA ARGS FOR THE FIRST cargo test]   e.g. ./scripts/test.sh -- --nocapture
# 1. installs the local tooling (infra/scripts/setup.sh; near-instant when already done),
# 2. starts DynamoDB Local and moto on free loopback ports (stopped again on exit),
# 3. cargo test (all targets, then doctests), then cfn-lint on template.yaml if present, then
#    schemathesis against a freshly started local gateway (infra/scripts/schemathesis.sh).
# Every step runs even if an earlier one failed; the exit status is non-zero if any failed.
# CARGO_TARGET_DIR is honoured if set, otherwise cargo's default (./target) is used.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

infra/scripts/setup.sh

# cargo's output is also copied here so the totals can be printed last: the final
# "test result:" line of a run is the last doctest crate's, often "0 passed".
results="$(mktemp)"

# shellcheck source=SCRIPTDIR/../infra/scripts/emulators.sh
source infra/scripts/emulators.sh
trap 'emulators_stop; rm -f "$results"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
emulators_start   # exports PIXGW_TEST_DYNAMODB_ENDPOINT and PIXGW_TEST_SQS_ENDPOINT

# Dummy credentials for the emulators; never let a developer's real AWS profile leak in.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
if [[ -t 1 ]]; then export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-always}"; fi

cargo_test() {
  cargo test "$@" 2>&1 | tee -a "$results"
  return "${PIPESTATUS[0]}"
}

failed=()
cargo_test --workspace --all-targets "$@" || failed+=("cargo test --workspace --all-targets")
cargo_test --workspace --doc || failed+=("cargo test --workspace --doc")
if [[ -f template.yaml ]]; then
  echo "cfn-lint template.yaml"
  infra/.venv/bin/cfn-lint template.yaml || failed+=("cfn-lint template.yaml")
fi
# The served OpenAPI document against the running gateway (deterministic, about 30 s).
echo "schemathesis against the local gateway"
infra/scripts/schemathesis.sh || failed+=("infra/scripts/schemathesis.sh")

if ((${#failed[@]})); then
  printf 'test.sh: FAILED: %s\n' "${failed[@]}" >&2
fi
# One plain closing line with the totals over every cargo test binary and doctest run.
summary="$(awk '/test result:/ {
    for (i = 1; i < NF; i++) {
      if ($(i+1) ~ /^passed/) p += $i; else if ($(i+1) ~ /^failed/) f += $i; else if ($(i+1) ~ /^ignored/) s += $i
    }
  } END { printf "tests: %d passed, %d failed, %d skipped", p, f, s }' "$results")"
echo "$summary"
if [[ -n "${PIXGW_TEST_SUMMARY_FILE:-}" ]]; then echo "$summary" >"$PIXGW_TEST_SUMMARY_FILE"; fi
[[ ${#failed[@]} -eq 0 ]] || exit 1
