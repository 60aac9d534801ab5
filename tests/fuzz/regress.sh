#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Run every input under tests/fuzz/regressions/<target>/ through its fuzzer
# once (libFuzzer runs the files it is given and stops), one process per
# input so that each failure is named.  Usage: regress.sh BUILD TARGET...
set -u
b=$1
shift
fails=0
n=0
for t in "$@"; do
    for f in tests/fuzz/regressions/$t/*; do
        [ -f "$f" ] || continue
        n=$((n + 1))
        mkdir -p "$b/logs"
        log=$b/logs/regress-$t-$(basename "$f").log
        if "$b/fuzz_$t" -timeout=10 -rss_limit_mb=2048 "$f" >"$log" 2>&1; then
            echo "ok    $t/$(basename "$f")"
        else
            fails=$((fails + 1))
            why=$(grep -m1 -o 'ERROR: [A-Za-z]*: [a-z-]*\|ERROR: libFuzzer: [a-z-]*\|runtime error: .*' "$log" | head -n 1)
            echo "FAIL  $t/$(basename "$f"): ${why:-exit status}; see $log"
        fi
    done
done
echo "fuzz regressions: $n inputs, $fails failed"
[ $fails -eq 0 ]
