/* SPDX-License-Identifier: Apache-2.0 */
/* A message an edge takes from the cluster's outbox work queue
 * (daemon/outbox/outbox_wire.c, read by outbox_nats.c): either refused
 * with a reason, or an object with every member an edge relies on within
 * the bounds of POST /v1/messages, whose committed entry serializes and
 * becomes an outbox message with the same id, source, recipient and key.
 *
 * Input: the message's data. */
#include "fuzz.h"

#include <jansson.h>

#include "jsonout.h"
#include "outbox_int.h"

static void bounded(json_t *in, const char *name, size_t max, int need)
{
    json_t *v = json_object_get(in, name);
    if (!v || json_is_null(v)) {
        if (need)
            FUZZ_FAIL("accepted without '%s'", name);
        return;
    }
    if (!json_is_string(v) || json_string_length(v) > max || (need && !json_string_length(v)))
        FUZZ_FAIL("accepted with '%s' not a string of 1..%zu bytes", name, max);
}

static void same(const char *field, const char *a, json_t *in, const char *name)
{
    const char *b = json_string_value(json_object_get(in, name));
    if (!a || !b || strcmp(a, b))
        FUZZ_FAIL("the outbox message's %s is not the stream's '%s'", field, name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *bad = "unset", *which = "unset";
    json_t *in = outbox_wire_parse((const char *)data, size, &bad, &which);
    if (!in) {
        if (!bad || !which)
            FUZZ_FAIL("a message refused without a reason");
        return 0;
    }
    if (bad)
        FUZZ_FAIL("a message both taken and refused: %s", bad);
    bounded(in, "id", 96, 1);
    bounded(in, "source", 64, 1);
    bounded(in, "to", 512, 1);
    bounded(in, "idempotency_key", 256, 1);
    bounded(in, "text", 65536, 0);
    bounded(in, "reply_to", 1024, 0);
    bounded(in, "campaign", 256, 0);
    if (!json_is_string(json_object_get(in, "text")) &&
        !json_is_object(json_object_get(in, "template")))
        FUZZ_FAIL("accepted with neither text nor template");

    json_t *entry = outbox_wire_entry(in, 7, 1764918000000LL);
    if (!entry)
        FUZZ_FAIL("no entry for an accepted message");
    char *text = jsonout_text(entry);
    if (!text)
        FUZZ_FAIL("the entry does not serialize");
    json_t *back = json_loads(text, 0, NULL);
    if (!back)
        FUZZ_FAIL("the stored entry does not read back: %.300s", text);
    struct outbox_msg *m = outbox__msg_from_json(back);
    same("id", m->id, in, "id");
    same("source", m->source, in, "source");
    same("recipient", m->to, in, "to");
    same("idempotency key", m->idem_key, in, "idempotency_key");
    same("provider key", m->provider_key, in, "idempotency_key");
    if (m->num != 7 || !m->cluster || m->attempts)
        FUZZ_FAIL("the entry's num, cluster or attempts are not the edge's");
    outbox__msg_free(m);
    json_decref(back);
    free(text);
    json_decref(entry);
    json_decref(in);
    return 0;
}
