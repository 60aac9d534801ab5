/* SPDX-License-Identifier: Apache-2.0 */
/* A message of the cluster's records stream to what a core node stores
 * (plugins/nats/nats_relay.c): kanal_nats_classify decides relay, skip or
 * unknown; then the invariant the nats source relies on so that a message
 * never stops its consumer: the unknown record it builds for any message
 * passes kanald's relay check (record_relay) and serializes
 * (jsonout_dump), and a message classified as a record either passes that
 * check or becomes such an unknown record.  A message on the state
 * subject (flag 4) goes through kanal_nats_classify_command instead: one
 * it takes for a command is parsed by kanald's statecmd_parse, which
 * builds the route's write item or says why not (then it is kept as
 * unknown like any other).
 *
 * Input: one flags byte (max_message and raw_max small or large), then the
 * message's data. */
#include "fuzz.h"

#include <jansson.h>

#include <kanal/plugin.h>

#include "jsonin.h"
#include "jsonout.h"
#include "contacts_api.h"
#include "nats_relay.h"
#include "record.h"
#include "statecmd.h"

/* The record text passes record_relay and the stored form serializes. */
static int relayable(const char *text, size_t len)
{
    char e[160], err[256] = "";
    json_t *in = jsonin_parse(text, len, e, sizeof e);
    if (!in)
        return 0;
    json_t *out = NULL;
    int r = record_relay(in, &out, err, sizeof err);
    if (r == 0) {
        size_t n = 0;
        char *dumped = jsonout_dump(out, &n);
        if (!dumped)
            r = -1;
        free(dumped);
    } else if (r != KANAL_ERECORD || out || !err[0]) {
        FUZZ_FAIL("record_relay returned %d (out %p) without saying why", r, (void *)out);
    }
    json_decref(out);
    json_decref(in);
    return r == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    unsigned flags = fuzz_byte(&in);
    size_t max_len = flags & 1 ? 64 : 1 << 20, raw_max = flags & 2 ? 16 : 1 << 20;
    const char *msg = (const char *)in.p;
    char why[300] = "";
    enum kanal_nats_verdict v;
    if (flags & 4) { /* on the state subject */
        v = kanal_nats_classify_command(msg, in.n, max_len, why, sizeof why);
        if (v != KANAL_NATS_COMMAND && v != KANAL_NATS_UNKNOWN)
            FUZZ_FAIL("kanal_nats_classify_command answered %d", (int)v);
        if (v == KANAL_NATS_COMMAND) {
            static struct contacts_api ca; /* the items are built, never applied */
            json_t *cmd = json_loadb(msg, in.n, JSON_REJECT_DUPLICATES, NULL);
            if (!cmd)
                FUZZ_FAIL("a command that is not JSON");
            struct statecmd_run *r = statecmd_parse(&ca, cmd, why, sizeof why);
            json_decref(cmd);
            if (r) {
                statecmd_finish(r, -5); /* as a failed commit: nothing applied, all freed */
                return 0;
            }
            if (!why[0])
                FUZZ_FAIL("a state command refused without a reason");
            v = KANAL_NATS_UNKNOWN; /* the source keeps it as unknown */
        }
    } else {
        v = kanal_nats_classify(msg, in.n, max_len, why, sizeof why);
    }
    if (v != KANAL_NATS_RELAY && v != KANAL_NATS_SKIP && v != KANAL_NATS_UNKNOWN)
        FUZZ_FAIL("kanal_nats_classify answered %d", (int)v);
    if (v == KANAL_NATS_UNKNOWN && !why[0])
        FUZZ_FAIL("a message kept as unknown without a reason");
    if (v == KANAL_NATS_RELAY && relayable(msg, in.n))
        return 0;
    if (v == KANAL_NATS_SKIP)
        return 0;
    struct kanal_nats_unknown u = {
        .source = "cluster",
        .stream = "KANAL",
        .subject = flags & 4 ? "kanal.records.kanal.state" : NULL,
        .stream_seq = 1 + (flags >> 3),
        .occurred_at = "2026-12-05T07:00:00.000Z",
        .received_at = "2026-12-05T07:00:01.000Z",
        .why = why[0] ? why : "kanald refused the record",
    };
    size_t len = 0;
    char *text = kanal_nats_unknown_record(&u, msg, in.n, raw_max, &len);
    if (!text)
        FUZZ_FAIL("no unknown record for a message of %zu bytes", in.n);
    if (!relayable(text, len))
        FUZZ_FAIL("kanald refuses the unknown record of a message: %.300s", text);
    free(text);
    return 0;
}
