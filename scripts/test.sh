#!/usr/bin/env bash
# The project's test command. Runs from any directory:
#   ./scripts/test.sh [EXTRA ARGS FOR THE FIRST cargo test]   e.g. ./scripts/test.sh -- --nocapture
# 1. installs the local tooling (infra/scripts/setup.sh; near-instant when already done),
# 2. starts DynamoDB Local and moto on free loopback ports (stopped again on exit),
# 3. cargo test (all targets, then doctests), then cfn-lint on template.yaml if present.
# Every step runs even if an earlier one failed; the exit status is non-zero if any failed.
# CARGO_TARGET_DIR is honoured if set, otherwise cargo's default (./target) is used.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

infra/scripts/setup.sh

# shellcheck source=SCRIPTDIR/../infra/scripts/emulators.sh
source infra/scripts/emulators.sh
trap emulators_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
emulators_start   # exports PIXGW_TEST_DYNAMODB_ENDPOINT and PIXGW_TEST_SQS_ENDPOINT

# Dummy credentials for the emulators; never let a developer's real AWS profile leak in.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true

failed=()
cargo test --workspace --all-targets "$@" || failed+=("cargo test --workspace --all-targets")
cargo test --workspace --doc || failed+=("cargo test --workspace --doc")
if [[ -f template.yaml ]]; then
  echo "cfn-lint template.yaml"
  infra/.venv/bin/cfn-lint template.yaml || failed+=("cfn-lint template.yaml")
fi

if ((${#failed[@]})); then
  printf 'test.sh: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "test.sh: all passed"
