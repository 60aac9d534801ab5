/* SPDX-License-Identifier: Apache-2.0 */
/* The nats plugin's source role (nats_source.c): a core node consuming
 * the records stream.  nats_plugin.c hands a [source NAME] section here. */
#ifndef KANAL_NATS_SOURCE_H
#define KANAL_NATS_SOURCE_H

#include <kanal/plugin.h>

/* The options only a source reads; the sink ignores them. */
#define KANAL_NATS_SOURCE_OPTIONS                                                          \
    {"durable",                                                                            \
     KANAL_OPT_STRING,                                                                     \
     NULL,                                                                                 \
     0,                                                                                    \
     "source: the durable consumer's name, one per core node (required for a source)",     \
     NULL},                                                                                \
        {"batch",                                                                          \
         KANAL_OPT_INT,                                                                    \
         "256",                                                                            \
         0,                                                                                \
         "source: messages fetched and committed together, at most",                       \
         NULL},                                                                            \
    {                                                                                      \
        "max_message", KANAL_OPT_SIZE, "1M", 0,                                            \
            "source: a larger message is kept as an unknown record without its text", NULL \
    }

int nats_source_init(const struct kanal_host *host, struct kanal_source *src, void **state);
int nats_source_start(void *state);
int nats_source_stop(void *state);
void nats_source_destroy(void *state);

#endif
