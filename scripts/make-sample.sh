#!/usr/bin/env bash
# Rebuilds testdata/tasks/events.ndjson: 3,000 generated records (seed 42) followed by
# the hand-placed anomalies of testdata/tasks/hand-placed.ndjson. After a change, update
# the counts in testdata/tasks/README.md (tests/sample.rs asserts every one of them).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet -- generate --events 3000 --seed 42 -o testdata/tasks/events.ndjson
cat testdata/tasks/hand-placed.ndjson >> testdata/tasks/events.ndjson
