/* SPDX-License-Identifier: Apache-2.0 */
/* What stages.c and stages_api.c share: the state of one stage. */
#ifndef KANAL_STAGES_INT_H
#define KANAL_STAGES_INT_H

#include <stdint.h>

#include <kanal/plugin.h>

#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 60000
#define CURSOR_WRITE_MS 100 /* a sink's cursor goes to the store at most this often */

enum { FAIL_ERROR, FAIL_INVALID, FAIL_BUDGET, FAIL_N };
extern const char *const stages_fail_names[FAIL_N];

struct stage {
    struct kanal_source *src;
    /* processor */
    uint64_t seen, dropped, failures[FAIL_N];
    /* sink */
    uint64_t cursor;        /* acknowledged up to here */
    uint64_t stored_cursor; /* what the store has */
    uint64_t delivered;     /* delivered up to here (rewound on failure) */
    uint64_t max_delivered; /* highest ever delivered: acks above are refused */
    uint64_t errors, batches;
    int writing, pumping, pump_again, retry_pending;
    uint64_t cursor_written_ms;     /* monotonic: the last cursor write began */
    struct kanal_timer *cursor_due; /* the next cursor write, when one waits */
    int64_t backoff_ms;
    char *last_error;
    struct kanal_timer *retry;
    /* ack = cluster: answers waiting for the cursor, in seq order */
    struct ack_waiter *waiters, *waiters_tail;
    uint64_t nwaiting, ack_timeouts;
    struct kanal_timer *wait_tick;
};

/* Age in ms of the oldest record a sink has not acknowledged (0: none). */
int64_t stages_sink_lag_ms(struct kanal_source *src, int64_t now);

#endif
