#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Run each fuzzer for SECONDS on its corpus, one after the other on one core,
# and print one line per target: executions, coverage (cov, ft from
# libFuzzer's final stats), executions per second and whether it crashed.
# Crash inputs go to BUILD/crashes/<target>/; the log to BUILD/logs/<target>.log.
# Usage: run.sh BUILD SECONDS TARGET...   Exit status 1 when any target crashed.
set -u
b=$1
secs=$2
shift 2
status=0
printf '%-12s %10s %7s %7s %8s  %s\n' target execs cov ft exec/s result
for t in "$@"; do
    mkdir -p "$b/corpus/$t" "$b/crashes/$t" "$b/logs"
    log=$b/logs/$t.log
    "$b/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$b/crashes/$t/" \
        ${FUZZ_ARGS:-} "$b/corpus/$t" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    if [ $rc -eq 0 ]; then
        res=ok
    else
        status=1
        art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        why=$(grep -m1 -o 'ERROR: [A-Za-z]*: [a-z-]*\|ERROR: libFuzzer: [a-z-]*\|runtime error: .*' "$log" | head -n 1)
        res="CRASH ($why) ${art:-see $log}"
    fi
    printf '%-12s %10s %7s %7s %8s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
        "${speed:-?}" "$res"
done
exit $status
