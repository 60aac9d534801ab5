/* Asynchronous transfers: libcurl's multi interface driven by the loop. */
#ifndef KANAL_TRANSFER_H
#define KANAL_TRANSFER_H

#include <uv.h>

#include <kanal/plugin.h>

struct transfer_engine;

struct transfer_engine *transfer_engine_new(uv_loop_t *loop);
/* Run easy (a CURL *) and call cb on the loop when it ends.  done_ref is
 * called after cb (the source's pending count). */
int transfer_start(struct transfer_engine *te, struct kanal_source *src, void *easy,
                   kanal_transfer_cb cb, void *arg);
/* End every transfer still running with CURLE_ABORTED_BY_CALLBACK. */
void transfer_abort_all(struct transfer_engine *te);
/* Close the engine's handles; free happens when the loop closed them. */
void transfer_engine_close(struct transfer_engine *te);
unsigned transfer_running(const struct transfer_engine *te);

#endif
