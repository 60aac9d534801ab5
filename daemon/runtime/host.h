/* SPDX-License-Identifier: Apache-2.0 */
/* The host API (host.c): the table handed to plugins, the only way they
 * reach kanald.  What it reaches beyond a source is the source set's
 * struct host_env (source.h). */
#ifndef KANAL_HOST_H
#define KANAL_HOST_H

#include <kanal/plugin.h>

struct kanal_source;

extern const struct kanal_host host_api;
/* Close the timers and watches a source's plugin left open (the source
 * set's close_handles). */
void host_close_handles(struct kanal_source *src);

#endif
