#!/usr/bin/env bash
# Runs tarn's benchmarks once each. Every benchmark measures its own baseline in the same
# run and reports "ratio" = tarn / baseline, so figures from different machines compare.
# Usage: scripts/bench.sh [benchmark regexp]
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench "${1:-.}" -benchtime 1x -timeout 30m ./internal/bench |
	grep -E '^(Benchmark|ok|FAIL|---)' |
	sed -E 's/[[:space:]]+([0-9.e+]+) ([^[:space:]]+)/\n    \2: \1/g'
