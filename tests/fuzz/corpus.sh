#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Fill each fuzzer's corpus folder from its hand-written seeds
# (tests/fuzz/seeds/<target>/) and from the tests' fixtures.  The corpus is
# the fuzzer's working set: it grows as the fuzzer finds new paths and is
# never committed.  Usage: corpus.sh CORPUS_DIR TARGET...
set -eu
out=$1
shift
fx=tests/e2e/fixtures
for t in "$@"; do
    d=$out/$t
    mkdir -p "$d"
    if [ -d tests/fuzz/seeds/$t ]; then
        for f in tests/fuzz/seeds/$t/*; do
            [ -f "$f" ] && cp -f "$f" "$d/seed-$(basename "$f")"
        done
    fi
    case $t in
    # eventbrite: seeds/eventbrite/ pairs each API fixture with its webhook.
    jsonin|record) set -- $fx/meta/*.json $fx/twitter/*.json $fx/signup/*.json ;;
    facebook) set -- $fx/meta/fb_*.json $fx/meta/ig_*.json ;;
    whatsapp) set -- $fx/meta/wa_*.json ;;
    twitter) set -- $fx/twitter/*.json ;;
    csv) set -- $fx/signup/*.csv ;;
    sms|form) set -- $fx/twilio/*.form ;;
    mime) set -- $fx/email/*.eml ;;
    html) set -- $fx/email/*.eml ;;
    *) set -- ;;
    esac
    for f in "$@"; do
        [ -f "$f" ] || continue
        case $t in
        # The plugin targets read a selector byte first (tests/fuzz/README.md):
        # 0 routes the rest as the webhook's body.
        sms|facebook|whatsapp|twitter|mime) { printf '\000'; cat "$f"; } >"$d/fx-$(basename "$f")" ;;
        *) cp -f "$f" "$d/fx-$(basename "$f")" ;;
        esac
    done
done
