/* SPDX-License-Identifier: Apache-2.0 */
/* Pipeline stages after normalization: processors ([processor NAME]) see
 * each record before it is committed; sinks ([sink NAME]) receive
 * committed records from a cursor kept in the store. */
#ifndef KANAL_STAGES_H
#define KANAL_STAGES_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct config;
struct source_set;
struct write_item;
struct kanal_source;

/* The state key (under the reserved source "kanal") of a sink's cursor. */
#define STAGES_CURSOR_PREFIX "sink/"

/* Start the stages of the current config (start-up) / follow a new config (SIGHUP). */
void stages_start(struct source_set *set);
void stages_apply(struct source_set *set, struct config *next);
/* Stop every stage (shutdown). */
void stages_stop_all(struct source_set *set);

/* Run the processors over the records of item (loop thread, before the
 * commit).  Dropped records leave the item; *kept then lists the original
 * index of each remaining record (malloc'd; NULL when none was dropped). */
void stages_process(struct source_set *set, struct write_item *item, size_t **kept);
/* seqs of the records kept, spread back to the n records emitted (0 for a
 * dropped one); malloc'd. */
uint64_t *stages_expand_seqs(const uint64_t *seqs, const size_t *kept, size_t nkept, size_t n);

/* After commits: give every sink what it has room for. */
void stages_wake_sinks(struct source_set *set);

/* Free what a stage keeps beside its source struct (source_destroy). */
void stages_free(struct kanal_source *src);

/* ack = cluster: call cb(arg, 0) once the running sink named sink has
 * acknowledged seq (its cursor reached it), cb(arg, KANAL_EREPLICA) after
 * timeout_ms, or cb(arg, KANAL_ESTOPPED) when the sink stops first.
 * @return 0 when waiting (cb will be called on the loop), 1 when seq is
 *         acknowledged already (cb is not called), KANAL_EREPLICA when no
 *         such sink runs (refused at start, say) */
typedef void (*stages_ack_cb)(void *arg, int status);
int stages_ack_wait(struct source_set *set, const char *sink, uint64_t seq, int64_t timeout_ms,
                    stages_ack_cb cb, void *arg);

/* The host API's sink functions. */
int stages_sink_ack(struct kanal_source *src, uint64_t seq);
int stages_sink_fail(struct kanal_source *src, int64_t retry_after_ms, const char *reason);

#endif
