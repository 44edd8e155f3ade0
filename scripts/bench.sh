#!/usr/bin/env bash
# Benchmarks (figures, not pass/fail): ./scripts/bench.sh
# Starts the emulators like the test command does, then runs the create-charge, settlement,
# local-queue and payout-scheduler benchmarks, which report our code against the bare calls it makes, measured
# in the same run. The scheduler bench (one run over 10k and 100k due splits, embedded and
# DynamoDB Local) takes a while; PIXGW_BENCH_SIZES / PIXGW_BENCH_BACKENDS narrow it
# (see tests/benches/scheduler.rs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

infra/scripts/setup.sh
# shellcheck source=SCRIPTDIR/../infra/scripts/emulators.sh
source infra/scripts/emulators.sh
trap emulators_stop EXIT
emulators_start
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export RUST_LOG="${RUST_LOG:-error}"
cargo bench -p pixgw-tests --bench create_charge --bench settlement --bench queues --bench scheduler "$@"
