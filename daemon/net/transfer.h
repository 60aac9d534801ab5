/* SPDX-License-Identifier: Apache-2.0 */
/* Asynchronous transfers: libcurl's multi interface driven by the loop. */
#ifndef KANAL_TRANSFER_H
#define KANAL_TRANSFER_H

#include <uv.h>

#include <kanal/plugin.h>

struct transfer_engine;

/* A running transfer holds its source: ref when it starts, unref after its
 * callback (the source's pending count, source.c), so that the source is not
 * destroyed under it.  The engine knows no more of sources than that. */
typedef void (*transfer_hold_fn)(struct kanal_source *src);

struct transfer_engine *transfer_engine_new(uv_loop_t *loop, transfer_hold_fn ref,
                                            transfer_hold_fn unref);
/* Run easy (a CURL *) for src (NULL: for kanald itself; name: its name, for
 * the log) and call cb on the loop when it ends. */
int transfer_start(struct transfer_engine *te, struct kanal_source *src, const char *name,
                   void *easy, kanal_transfer_cb cb, void *arg);
/* End every transfer still running with CURLE_ABORTED_BY_CALLBACK. */
void transfer_abort_all(struct transfer_engine *te);
/* Close the engine's handles; free happens when the loop closed them. */
void transfer_engine_close(struct transfer_engine *te);
unsigned transfer_running(const struct transfer_engine *te);

#endif
