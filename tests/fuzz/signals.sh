#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# libFuzzer's -timeout runs on SIGALRM, and its handler does not restart
# system calls: a harness that treats EINTR as a failure fails whenever
# the timer fires during a blocking call.  Run each TARGET for SECONDS from
# its seeds while SIGALRM arrives every 2 ms or so (a sleep 0.002 apart),
# so that every blocking call in it is interrupted many times over, and
# fail when the target does.
# Usage: signals.sh BUILD SECONDS TARGET...
set -u
b=$1
secs=$2
shift 2
status=0
for t in "$@"; do
    corpus=$b/signals/$t
    rm -rf "$corpus"
    mkdir -p "$corpus" "$b/crashes/$t" "$b/logs"
    cp tests/fuzz/seeds/"$t"/* "$corpus"/ 2>/dev/null
    log=$b/logs/signals-$t.log
    "$b/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$b/crashes/$t/" \
        "$corpus" >"$log" 2>&1 &
    pid=$!
    # Stopped (^C, make interrupted): the target goes too, and so does the
    # script, rather than go on to the next target.
    trap 'kill $pid 2>/dev/null' EXIT
    trap 'kill $pid 2>/dev/null; exit 130' INT TERM
    # Only once libFuzzer has its handler (it says INITED after the seeds):
    # before, SIGALRM's default action would end the process.
    while kill -0 $pid 2>/dev/null && ! grep -q '^#[0-9]*[[:space:]]*INITED' "$log"; do
        sleep 0.05
    done
    sent=0
    while kill -ALRM $pid 2>/dev/null; do
        sent=$((sent + 1))
        sleep 0.002
    done
    wait $pid
    rc=$?
    trap - EXIT INT TERM
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ $rc -eq 0 ]; then
        echo "ok    $t under SIGALRM: ${execs:-?} inputs, $sent signals"
    else
        status=1
        why=$(grep -m1 '^fuzz: \|ERROR: ' "$log")
        echo "FAIL  $t under SIGALRM ($sent signals): ${why:-exit status $rc}; see $log"
    fi
done
exit $status
