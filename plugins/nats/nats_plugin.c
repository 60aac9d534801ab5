/* SPDX-License-Identifier: Apache-2.0 */
/* The nats plugin's descriptor: one plugin, two roles.  A [sink NAME]
 * section publishes committed records to the stream (nats_sink.c), a
 * [source NAME] section consumes it on a core node (nats_source.c); each
 * instance's state says which it is. */
#include <errno.h>
#include <stdlib.h>

#include <kanal/plugin.h>

#include "nats_source.h"

extern const struct kanal_plugin kanal_nats_sink;
extern const struct kanal_option kanal_nats_option_table[];

struct instance {
    int source; /* 1: nats_source.c's, else the sink's */
    void *state;
};

static int any_init(const struct kanal_host *host, struct kanal_source *src, void **state)
{
    struct instance *in = calloc(1, sizeof *in);
    if (!in)
        return -ENOMEM;
    in->source = KANAL_HOST_HAS(host, role) && host->role(src) == KANAL_ROLE_SOURCE;
    int r = in->source ? nats_source_init(host, src, &in->state)
                       : kanal_nats_sink.init(host, src, &in->state);
    if (r < 0) {
        free(in);
        return r;
    }
    *state = in;
    return 0;
}

static int any_start(void *state)
{
    struct instance *in = state;
    return in->source ? nats_source_start(in->state) : kanal_nats_sink.start(in->state);
}

static int any_stop(void *state)
{
    struct instance *in = state;
    return in->source ? nats_source_stop(in->state) : kanal_nats_sink.stop(in->state);
}

static void any_destroy(void *state)
{
    struct instance *in = state;
    if (in->source)
        nats_source_destroy(in->state);
    else
        kanal_nats_sink.destroy(in->state);
    free(in);
}

static int any_deliver(void *state, const struct kanal_sink_batch *batch)
{
    struct instance *in = state;
    return in->source ? -EPERM : kanal_nats_sink.deliver(in->state, batch);
}

static const struct kanal_plugin nats_plugin = {
    KANAL_PLUGIN_HEADER,
    .name = "nats",
    .version = "1.1.0",
    .description = "sink: publishes committed records to a NATS JetStream stream; source: "
                   "consumes that stream on a core node",
    .options = kanal_nats_option_table,
    .init = any_init,
    .start = any_start,
    .stop = any_stop,
    .destroy = any_destroy,
    .deliver = any_deliver,
    .flags = KANAL_PLUGIN_RELAY,
};

KANAL_PLUGIN_EXPORT const struct kanal_plugin *kanal_plugin_entry(void)
{
    return &nats_plugin;
}
