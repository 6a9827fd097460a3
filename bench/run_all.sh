#!/usr/bin/env bash
# Runs every benchmark, each against its baseline in the same run (see docs/benchmarks.md).
# BENCHES selects some: training_set http sync stream statistics cluster partition ingest (default: all). Each prints RESULT/summary lines.
set -uo pipefail
cd "$(dirname "$0")/.."
BENCHES=${BENCHES:-"training_set http sync stream statistics cluster partition ingest"}
export BUILD_DIR=${BUILD_DIR:-build}
status=0
for b in $BENCHES; do
  echo "== bench: $b"
  case $b in
    training_set) bench/training_set_bench.sh || status=1 ;;
    http) bench/http_bench.sh || status=1 ;;
    sync) bench/sync_bench.sh 1000000 60 || status=1 ;;
    stream) bench/stream_bench.sh 200000 || status=1 ;;
    statistics) bench/statistics_bench.sh || status=1 ;;
    cluster) bench/cluster_bench.sh || status=1 ;;
    partition) bench/partition_bench.sh || status=1 ;;
    ingest) bench/ingest_bench.sh || status=1 ;;
    *) echo "unknown benchmark $b" >&2; status=1 ;;
  esac
done
exit $status
