/* SPDX-License-Identifier: Apache-2.0 */
/* The writer thread: group commit of everything the loop queued. */
#ifndef KANAL_WRITER_H
#define KANAL_WRITER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <lmdb.h>
#include <uv.h>

struct store;

struct write_record {
    /* Normalized record; the writer sets "seq".  Made and freed on the loop
     * thread: with glibc malloc, freeing on the thread that allocated keeps
     * the memory in that thread's cache for the next request. */
    json_t *rec;
    int is_new;    /* set by the commit: 0 when the idempotency key existed */
    int given_contact; /* the record named its contact itself (not resolved) */
    /* rec serialized ahead on the loop thread with "seq":0 (or NULL): when
     * nothing changes rec in the writer, it only puts the seq in. */
    char *text;
    size_t text_len;
    int text_errno; /* text written without rec and NULL: why (jsonout_dump's) */
    /* Without rec, with identity on: the parties identity resolves, and
     * after the commit's resolution the record's contact (malloc'ed, as
     * what it holds). */
    struct record_parties *parties;
    /* The schema's own strings (static) for the record's kind and
     * direction, for the metrics; NULL: read them from rec. */
    const char *kind, *direction;
    /* Where text holds the processors' annotations (the offset of their
     * object), which rec does not (stages.c); 0: text and rec agree. */
    size_t ann_at;
    char *idem;    /* source \0 kind \0 external_id */
    size_t idem_len;
};

struct write_state {
    char *key; /* source \0 key */
    size_t key_len;
    void *value; /* NULL: delete */
    size_t len;
};

struct write_item;
typedef void (*write_done_fn)(struct write_item *item);
/* Extra work inside the same transaction (outbox, contacts); 0 or an MDB code. */
typedef int (*write_apply_fn)(struct write_item *item, struct store *st, MDB_txn *txn);

struct write_item {
    struct write_item *next;
    struct write_record *recs;
    size_t nrecs;
    struct write_state *states;
    size_t nstates;
    write_apply_fn apply;
    write_done_fn done; /* on the loop thread, after the commit or failure */
    void *arg;
    /* Results. */
    int status;      /* 0 or negative error */
    uint64_t *seqs;  /* one per record (&seq_one for one record) */
    uint64_t seq_one;
    size_t nnew;     /* records actually written (not duplicates) */
    /* For apply(): the last seq used so far; apply() may append records
     * (writer_append_system) and moves it on. */
    uint64_t last_seq;
    /* After the commit, overwrite the store's free pages (erasure). */
    int scrub_after;
    /* Where the records' values live, if in an arena (host emits). */
    struct jarena *arena;
};

/* Histogram bounds: records per commit, and commit latency in microseconds. */
#define WRITER_BATCH_BOUNDS {1, 4, 16, 64, 256, 1024, 4096}
#define WRITER_LATENCY_BOUNDS_US {250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 1000000}

struct writer_stats {
    uint64_t commits, records, duplicates, failures;
    uint64_t batch_hist[8];     /* cumulative counts per bound, then +Inf */
    uint64_t batch_sum;
    uint64_t latency_hist[10];
    uint64_t latency_us_sum;
};

struct writer {
    struct store *st;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct write_item *in_head, *in_tail;
    struct write_item *out_head, *out_tail;
    uv_async_t async;
    int stopping;
    int joined;  /* the thread has ended: items can no longer be committed */
    int failing; /* the last commit failed: log recovery once */
    atomic_int done_ready; /* out_head is not empty (read without the lock) */
    struct writer_stats stats;
    /* Called on the loop after each drain of completions (feed wakeups). */
    void (*after_completions)(void *arg);
    void *after_arg;
};

int writer_start(struct writer *w, uv_loop_t *loop, struct store *st);
/* A consistent copy of the statistics (any thread). */
void writer_get_stats(struct writer *w, struct writer_stats *out);
/* Queue an item; its done() runs on the loop thread later, exactly once. */
void writer_submit(struct writer *w, struct write_item *item);
/* Run the completions of finished commits now, if there are any, instead
 * of when the loop gets to the writer's wakeup (loop thread; cheap when
 * there are none). */
void writer_poll(struct writer *w);
/* Commit what is queued, stop the thread, run the remaining completions. */
void writer_stop(struct writer *w);
struct resolve_extra;
/* Append kanald's own records after *last (inside apply()). */
int writer_append_system(struct store *st, MDB_txn *txn, struct resolve_extra *extra,
                         uint64_t *last);

/* Free an item and everything it owns. */
void write_item_free(struct write_item *item);

/* Put the annotations wr->text holds (wr->ann_at) into wr->rec, for a
 * record the writer serializes from rec: read back from their canonical
 * text, they serialize to the same bytes.  0, or -ENOMEM. */
int write_record_take_annotations(struct write_record *wr);

/* The commit itself, exposed for tests and benchmarks: commit items as one
 * transaction and set their status and seqs. */
int writer_commit_batch(struct store *st, struct write_item *items, struct writer_stats *stats);

#endif
