/* SPDX-License-Identifier: Apache-2.0 */
/* Group commit.  The loop thread queues items; this thread takes everything
 * queued, writes it in one LMDB transaction (records, idempotency keys,
 * state), commits — which syncs once with sync = full — and only then hands
 * the items back to the loop, whose callbacks answer the providers.  A failed
 * commit fails the items of that transaction (503 to providers, who retry)
 * and the thread goes on with the next ones.
 *
 * Only a failure of the store itself fails the whole commit: the loop thread
 * checks every record before it queues it, but should one still fail for
 * its own sake (a key or value LMDB refuses, a value that cannot be
 * serialized), the transaction is rolled back and done again without that
 * item, which alone fails.  The common case costs nothing: no nested
 * transaction per item, only a second attempt when an item fails. */
#include "writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "contacts.h"
#include "crypto.h"
#include "error.h"
#include "jarena.h"
#include "jsonout.h"
#include "log.h"
#include "record.h"
#include "scrub.h"
#include "store.h"
#include "util.h"

#include <kanal/plugin.h>

void write_item_free(struct write_item *item)
{
    for (size_t i = 0; i < item->nrecs; i++) {
        json_decref(item->recs[i].rec);
        if (item->recs[i].parties) {
            record_parties_clear(item->recs[i].parties);
            free(item->recs[i].parties);
        }
        free(item->recs[i].text);
        free(item->recs[i].idem);
    }
    for (size_t i = 0; i < item->nstates; i++) {
        free(item->states[i].key);
        free(item->states[i].value);
    }
    free(item->recs);
    free(item->states);
    if (item->seqs != &item->seq_one)
        free(item->seqs);
    jarena_release(item->arena);
    free(item);
}

int write_record_take_annotations(struct write_record *wr)
{
    if (!wr->ann_at)
        return 0;
    /* The annotations' object runs to the record's closing brace. */
    json_t *ann = json_loadb(wr->text + wr->ann_at, wr->text_len - wr->ann_at - 1, 0, NULL);
    if (!ann)
        return -ENOMEM; /* text kanald wrote itself: only memory can fail */
    json_object_set_new(wr->rec, "annotations", ann);
    wr->ann_at = 0;
    return 0;
}

/* A record already stored, or erased since (its key survives as a digest;
 * st->erased_none says there are no such digests in this transaction). */
static int find_existing(struct store *st, MDB_txn *txn, const void *idem, size_t len,
                         uint64_t *seq)
{
    MDB_val k = {len, (void *)idem}, v;
    int rc = mdb_get(txn, st->idem, &k, &v);
    if (rc == MDB_NOTFOUND && !st->erased_none) {
        unsigned char digest[32];
        crypto_sha256(idem, len, digest);
        MDB_val dk = {sizeof digest, digest};
        rc = mdb_get(txn, st->erased, &dk, &v);
    }
    if (rc == 0 && v.mv_size == sizeof(uint64_t))
        memcpy(seq, v.mv_data, sizeof *seq);
    return rc;
}

#define SEQ_HEAD "{\"v\":1,\"seq\":"

/* Put a record serialized with "seq":0 into the log at seq, with
 * "contact":cid added at its end when cid is set (where json_object_set
 * would have put it), writing straight into LMDB's page; 1 when text or
 * cid is not of the expected form (then the caller serializes rec). */
static int append_text(struct store *st, MDB_txn *txn, const char *text, size_t len,
                       const char *cid, uint64_t seq)
{
    const size_t head = sizeof SEQ_HEAD - 1;
    static const char ckey[] = ",\"contact\":\"";
    if (len < head + 3 || memcmp(text, SEQ_HEAD, head) != 0 || text[head] != '0' ||
        text[head + 1] != ',' || text[len - 1] != '}')
        return 1;
    size_t cl = 0;
    if (cid) {
        for (cl = 0; cid[cl]; cl++)
            if (cl >= 64 || !((cid[cl] >= 'a' && cid[cl] <= 'z') ||
                              (cid[cl] >= 'A' && cid[cl] <= 'Z') ||
                              (cid[cl] >= '0' && cid[cl] <= '9') || cid[cl] == '-' ||
                              cid[cl] == '_'))
                return 1; /* needs escaping: let jsonout do it */
    }
    char num[24], *digits = util_u64_dec(num + sizeof num, seq);
    size_t nl = (size_t)(num + sizeof num - digits);
    size_t body = len - head - 2; /* after the 0, without the closing brace */
    size_t extra = cid ? sizeof ckey - 1 + cl + 1 : 0;
    MDB_val lk = {sizeof seq, &seq}, lv = {head + nl + body + extra + 1, NULL};
    int rc = mdb_put(txn, st->log, &lk, &lv, MDB_APPEND | MDB_RESERVE);
    if (rc)
        return rc;
    char *o = lv.mv_data;
    memcpy(o, text, head);
    o += head;
    memcpy(o, digits, nl);
    o += nl;
    memcpy(o, text + head + 1, body);
    o += body;
    if (cid) {
        memcpy(o, ckey, sizeof ckey - 1);
        o += sizeof ckey - 1;
        memcpy(o, cid, cl);
        o += cl;
        *o++ = '"';
    }
    *o = '}';
    return 0;
}

/* rec serialized here into the log at seq. */
static int log_put_json(struct store *st, MDB_txn *txn, json_t *rec, uint64_t seq)
{
    json_object_set_new(rec, "seq", json_integer((json_int_t)seq));
    size_t tl;
    char *text = jsonout_dump(rec, &tl);
    if (!text)
        return errno == ENOMEM ? ENOMEM : EINVAL; /* EINVAL: this record's fault */
    MDB_val lk = {sizeof seq, &seq}, lv = {tl, text};
    int rc = mdb_put(txn, st->log, &lk, &lv, MDB_APPEND);
    free(text);
    return rc;
}

static int idem_put(struct store *st, MDB_txn *txn, const void *idem, size_t idem_len,
                    uint64_t seq)
{
    MDB_val k = {idem_len, (void *)idem}, sv = {sizeof seq, &seq};
    return mdb_put(txn, st->idem, &k, &sv, MDB_NOOVERWRITE);
}

/* Append one record at seq: serialize, log, idempotency key. */
static int append(struct store *st, MDB_txn *txn, json_t *rec, const void *idem, size_t idem_len,
                  uint64_t seq)
{
    int rc = log_put_json(st, txn, rec, seq);
    return rc ? rc : idem_put(st, txn, idem, idem_len, seq);
}

/* An emitted record into the log at seq: from the text the loop thread
 * serialized when the writer changed nothing but seq and the resolved
 * contact, else serialized here. */
static int log_put(struct store *st, MDB_txn *txn, struct write_record *wr, uint64_t seq)
{
    /* Without rec (written as text: identity was off when it was emitted)
     * the text is all there is. */
    if (wr->text && (!wr->rec || !st->identity || !wr->given_contact)) {
        const char *cid = !st->identity ? NULL
                          : wr->parties ? (wr->parties->contact[0] ? wr->parties->contact : NULL)
                                        : json_string_value(json_object_get(wr->rec, "contact"));
        int rc = append_text(st, txn, wr->text, wr->text_len, cid, seq);
        if (rc != 1)
            return rc;
        if (!wr->rec) /* record_normalize_text writes the form append_text takes */
            return EINVAL;
    }
    if (write_record_take_annotations(wr) < 0)
        return ENOMEM;
    return log_put_json(st, txn, wr->rec, seq);
}

/* Append the records kanald adds itself (merges, splits) after seq *last. */
int writer_append_system(struct store *st, MDB_txn *txn, struct resolve_extra *extra,
                         uint64_t *last)
{
    for (size_t i = 0; i < extra->n; i++) {
        json_t *rec = extra->recs[i];
        const char *kind = json_string_value(json_object_get(rec, "kind"));
        const char *ext = json_string_value(json_object_get(rec, "external_id"));
        char key[600];
        size_t kl = store_idem_key(key, sizeof key, KANAL_SYSTEM_SOURCE, kind, ext);
        uint64_t s = *last + 1, existing;
        int found = find_existing(st, txn, key, kl, &existing);
        if (found == 0)
            continue; /* already written (a repeated request) */
        if (found != MDB_NOTFOUND)
            return found;
        struct resolve_extra none = {0};
        int rc = contacts_resolve(st, txn, rec, s, &none);
        resolve_extra_clear(&none);
        if (rc || (rc = append(st, txn, rec, key, kl, s)))
            return rc;
        *last = s;
    }
    return 0;
}

static int put_record(struct store *st, MDB_txn *txn, struct write_record *wr, uint64_t *last,
                      uint64_t *seq, int *is_new)
{
    uint64_t next = *last + 1;
    int rc, claimed = st->erased_none;
    if (claimed) {
        /* No erased keys to look at: claim the idempotency key first.  A
         * put that finds the key gives its seq, in the one descent of the
         * tree that a get and then a put made twice for every new record;
         * a record that fails after it rolls the claim back with the rest. */
        MDB_val k = {wr->idem_len, wr->idem}, sv = {sizeof next, &next};
        rc = mdb_put(txn, st->idem, &k, &sv, MDB_NOOVERWRITE);
        if (rc == MDB_KEYEXIST) {
            if (sv.mv_size == sizeof *seq)
                memcpy(seq, sv.mv_data, sizeof *seq);
            *is_new = 0;
            return 0;
        }
    } else {
        rc = find_existing(st, txn, wr->idem, wr->idem_len, seq);
        if (rc == 0) {
            *is_new = 0;
            return 0;
        }
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    if (rc)
        return rc;
    struct resolve_extra extra = {0};
    /* A rolled-back attempt (the map grew) may have resolved a contact that
     * no longer exists: resolve again from scratch. */
    if (!wr->given_contact)
        json_object_del(wr->rec, "contact");
    rc = wr->parties ? contacts_resolve_parties(st, txn, wr->parties, next, &extra)
                     : contacts_resolve(st, txn, wr->rec, next, &extra);
    if (rc == 0)
        rc = log_put(st, txn, wr, next);
    if (rc == 0 && !claimed)
        rc = idem_put(st, txn, wr->idem, wr->idem_len, next);
    *last = next;
    if (rc == 0)
        rc = writer_append_system(st, txn, &extra, last);
    resolve_extra_clear(&extra);
    if (rc)
        return rc;
    *seq = next;
    *is_new = 1;
    return 0;
}

/* Which item an attempt failed on, and whether in one of its records. */
struct failed_at {
    struct write_item *item;
    int in_record;
};

static int apply_items(struct store *st, MDB_txn *txn, struct write_item *items, uint64_t *last,
                       struct writer_stats *stats, struct failed_at *failed)
{
    uint64_t seq = *last;
    st->erased_none = st->erased_none_known; /* an mdb_stat per commit before */
    for (struct write_item *it = items; it; it = it->next) {
        if (it->status)
            continue;
        it->nnew = 0;
        failed->item = it;
        failed->in_record = 1;
        if (!it->seqs && it->nrecs) /* a webhook's one record: no allocation */
            it->seqs = it->nrecs == 1 ? &it->seq_one : xcalloc(it->nrecs, sizeof *it->seqs);
        for (size_t i = 0; i < it->nrecs; i++) {
            uint64_t s = 0;
            int is_new = 0;
            int rc = put_record(st, txn, &it->recs[i], &seq, &s, &is_new);
            if (rc)
                return rc;
            it->seqs[i] = s;
            it->recs[i].is_new = is_new;
            if (is_new) {
                it->nnew++;
            } else if (stats) {
                stats->duplicates++;
            }
        }
        failed->in_record = 0;
        for (size_t i = 0; i < it->nstates; i++) {
            struct write_state *ws = &it->states[i];
            MDB_val k = {ws->key_len, ws->key}, v = {ws->len, ws->value};
            int rc = ws->value ? mdb_put(txn, st->state, &k, &v, 0)
                               : mdb_del(txn, st->state, &k, NULL);
            if (rc && rc != MDB_NOTFOUND)
                return rc;
        }
        if (it->apply) {
            it->last_seq = seq;
            int rc = it->apply(it, st, txn);
            if (rc)
                return rc;
            if (it->last_seq > seq)
                seq = it->last_seq; /* apply() appended records of its own */
        }
    }
    *last = seq;
    failed->item = NULL;
    return 0;
}

/* 1 when rc says the store itself cannot go on (full map or disk, I/O,
 * memory, LMDB's own state): every item of the commit fails, and their
 * senders retry.  Anything else is the failing item's own fault. */
static int store_wide(int rc)
{
    if (rc < 0 && rc > -4096)
        rc = -rc; /* apply() may return a negative errno */
    switch (rc) {
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case MDB_PANIC:
    case MDB_MAP_RESIZED:
    case MDB_READERS_FULL:
    case MDB_BAD_TXN:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_VERSION_MISMATCH:
    case MDB_INVALID:
    case EIO:
    case ENOSPC:
    case EDQUOT:
    case ENOMEM:
    case EROFS:
    case EFBIG:
        return 1;
    default:
        return 0;
    }
}

/* Folding `pending` into `timeline` (contacts_fold): everything, FOLD_STEP
 * records per transaction, when nothing has been queued for a moment; under
 * sustained load, once FOLD_BACKLOG records wait, FOLD_PER_RECORD entries
 * for each record of every batch, in the batch's own transaction, in
 * timeline key order (contacts_fold_share's sweep).  A step of its own
 * between two commits (4096 records, 10-20 ms) held the next batch's
 * answers for that long: the identity-on p99 under load was that step. */
#define FOLD_STEP 4096
#define FOLD_BACKLOG 65536
#define FOLD_PER_RECORD 2

/* How many pending records' worth the commit of items folds. */
static size_t fold_share(const struct store *st, const struct write_item *items)
{
    if (st->pending_count < FOLD_BACKLOG)
        return 0;
    size_t n = 0;
    for (const struct write_item *it = items; it; it = it->next)
        n += it->nrecs;
    n = n ? n * FOLD_PER_RECORD : FOLD_PER_RECORD;
    return n < FOLD_STEP ? n : FOLD_STEP;
}

/* After a commit that took `folded` records out of 'pending' and left
 * `left` in it (SIZE_MAX: not known).  The count, kept per put, also
 * counts puts of transactions that were rolled back, and not what an
 * erasure folded: a count read whole corrects it. */
static void fold_done(struct store *st, size_t folded, size_t left)
{
    if (left != SIZE_MAX)
        st->pending_count = left;
    else if (st->pending_count <= folded)
        st->pending_count = 0;
    else
        st->pending_count -= folded;
}

int writer_commit_batch(struct store *st, struct write_item *items, struct writer_stats *stats)
{
    int fold_off = 0; /* the fold failed once: this batch commits without it */
    for (int attempt = 0;; attempt++) {
        uint64_t last = st->last_seq;
        /* Counted per attempt, kept only for the one that commits. */
        struct writer_stats tried = {0};
        struct failed_at failed = {0};
        MDB_txn *txn;
        int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
        if (rc == MDB_PANIC && attempt == 0 && store_reopen(st) == 0)
            continue;
        if (rc == 0) {
            contacts_batch_begin(st);
            size_t fold_max = fold_off ? 0 : fold_share(st, items), folded = 0;
            size_t left = SIZE_MAX;
            rc = apply_items(st, txn, items, &last, &tried, &failed);
            if (rc == 0 && (rc = contacts_flush(st, txn, last)) != 0) {
                mdb_txn_abort(txn); /* a store-wide error (meta put) */
            } else if (rc == 0 && fold_max &&
                       (rc = contacts_fold_share(st, txn, fold_max, &folded, &left))) {
                /* The records do not wait for the fold: without it, unless
                 * the map is full (grown below, then tried again). */
                mdb_txn_abort(txn);
                if (rc != MDB_MAP_FULL) {
                    contacts_batch_end(st, 0);
                    log_warn("store %s: folding the timeline failed (%s); "
                             "committing the batch without it",
                             st->path, mdb_strerror(rc));
                    fold_off = 1;
                    attempt--;
                    continue;
                }
            } else if (rc == 0) {
                rc = mdb_txn_commit(txn);
            } else {
                mdb_txn_abort(txn);
            }
            contacts_batch_end(st, rc == 0);
            if (rc == 0 && fold_max)
                fold_done(st, folded, left);
            if (rc && failed.item && !store_wide(rc)) {
                /* Each round fails one more item: it ends. */
                log_err("store %s: an item of %zu record(s) cannot be stored (%s); "
                        "committing the others without it",
                        st->path, failed.item->nrecs,
                        rc < 0 && rc > -4096 ? strerror(-rc) : mdb_strerror(rc));
                failed.item->status = failed.in_record ? KANAL_ERECORD : store_err(rc);
                failed.item->nnew = 0; /* counted in the attempt rolled back */
                attempt--;
                continue;
            }
        }
        if (rc == MDB_MAP_FULL && attempt < 8 && store_grow(st) == 0)
            continue;
        if (rc) {
            /* After a failed meta page write LMDB refuses everything until
             * the environment is reopened; do it now so that service comes
             * back by itself once the disk has room again. */
            if (rc == MDB_PANIC || rc == EIO)
                store_reopen(st);
            for (struct write_item *it = items; it; it = it->next)
                if (!it->status)
                    it->status = KANAL_ESTORE;
            return store_err(rc);
        }
        store_set_last_seq(st, last);
        if (stats)
            stats->duplicates += tried.duplicates;
        return 0;
    }
}

static void hist_add(uint64_t *hist, const uint64_t *bounds, size_t nbounds, uint64_t v)
{
    for (size_t i = 0; i < nbounds; i++)
        if (v <= bounds[i])
            hist[i]++;
    hist[nbounds]++;
}

static void count_commit(struct writer_stats *s, size_t nrecs, uint64_t us)
{
    static const uint64_t batch[] = WRITER_BATCH_BOUNDS;
    static const uint64_t lat[] = WRITER_LATENCY_BOUNDS_US;
    s->commits++;
    hist_add(s->batch_hist, batch, ARRAY_SIZE(batch), nrecs);
    s->batch_sum += nrecs;
    hist_add(s->latency_hist, lat, ARRAY_SIZE(lat), us);
    s->latency_us_sum += us;
}

void writer_get_stats(struct writer *w, struct writer_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    pthread_mutex_unlock(&w->mu);
}

/* Fold pending timeline entries into the per-contact index when nothing
 * else waits: random index writes then come in bulk, not per record.  A
 * sweep that load began goes on (FOLD_STEP entries a step), not started
 * again later. */
static void fold_timeline(struct store *st)
{
    if (st->pending_count == 0)
        return;
    MDB_txn *txn;
    if (!st->env || mdb_txn_begin(st->env, NULL, 0, &txn) != 0)
        return;
    size_t folded = 0, left = SIZE_MAX;
    int rc;
    contacts_batch_begin(st);
    if (st->sw_phase) {
        rc = contacts_fold_share(st, txn, FOLD_STEP, &folded, &left);
    } else {
        rc = contacts_fold(st, txn, FOLD_STEP, &folded);
        left = folded < FOLD_STEP ? 0 : SIZE_MAX; /* fewer: none left */
    }
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    contacts_batch_end(st, rc == 0);
    if (rc == 0)
        fold_done(st, folded, left);
    else if (rc == MDB_MAP_FULL)
        store_grow(st); /* the next idle step folds in the larger map */
}

/* On the way out: the timeline entries kept in memory into 'pending', so
 * that the next start need not read them again from the log (and an
 * earlier kanald, which does not, finds them). */
static void put_kept(struct store *st)
{
    MDB_txn *txn;
    if (!st->env || st->pbuf_n == 0 || mdb_txn_begin(st->env, NULL, 0, &txn) != 0)
        return;
    contacts_batch_begin(st);
    int rc = contacts_pending_put_kept(st, txn);
    if (rc == 0)
        rc = contacts_flush(st, txn, st->last_seq);
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    contacts_batch_end(st, rc == 0);
    if (rc)
        log_warn("store %s: cannot put the timeline entries kept in memory on the way out (%s); "
                 "the next start reads them from the log",
                 st->path, mdb_strerror(rc));
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->in_head && !w->stopping) {
            if (w->st->pending_count == 0) {
                pthread_cond_wait(&w->cv, &w->mu);
                continue;
            }
            /* Fold the timeline once nothing has come for a moment. */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 100 * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            if (pthread_cond_timedwait(&w->cv, &w->mu, &until) == ETIMEDOUT && !w->in_head) {
                pthread_mutex_unlock(&w->mu);
                fold_timeline(w->st);
                pthread_mutex_lock(&w->mu);
            }
        }
        if (!w->in_head && w->stopping)
            break;
        struct write_item *batch = w->in_head, *tail = w->in_tail;
        w->in_head = w->in_tail = NULL;
        pthread_mutex_unlock(&w->mu);

        size_t nrecs = 0;
        for (struct write_item *it = batch; it; it = it->next)
            nrecs += it->nrecs;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        struct writer_stats delta = {0};
        int rc = writer_commit_batch(w->st, batch, &delta);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        int64_t ns = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec);
        uint64_t us = ns > 0 ? (uint64_t)ns / 1000u : 0;
        if (rc) {
            if (!w->failing)
                log_err("store %s: commit of %zu record(s) failed: %s; answering 503 until "
                        "commits succeed again",
                        w->st->path, nrecs, kanal_strerror(rc));
            w->failing = 1;
        } else {
            if (w->failing)
                log_notice("store %s: commits succeed again", w->st->path);
            w->failing = 0;
            for (struct write_item *it = batch; it; it = it->next)
                if (it->scrub_after && !it->status) {
                    int src = store_scrub_free_pages(w->st);
                    if (src)
                        log_err("store %s: cannot overwrite free pages after an erasure: %s",
                                w->st->path, kanal_strerror(store_err(src)));
                    break;
                }
        }

        pthread_mutex_lock(&w->mu);
        if (rc) {
            w->stats.failures++;
        } else {
            count_commit(&w->stats, nrecs, us);
            w->stats.duplicates += delta.duplicates;
            for (struct write_item *it = batch; it; it = it->next)
                w->stats.records += it->nnew;
        }
        if (w->out_tail)
            w->out_tail->next = batch;
        else
            w->out_head = batch;
        w->out_tail = tail;
        atomic_store_explicit(&w->done_ready, 1, memory_order_release);
        pthread_mutex_unlock(&w->mu);
        uv_async_send(&w->async);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    put_kept(w->st);
    return NULL;
}

static void run_completions(struct writer *w)
{
    pthread_mutex_lock(&w->mu);
    struct write_item *it = w->out_head;
    w->out_head = w->out_tail = NULL;
    atomic_store_explicit(&w->done_ready, 0, memory_order_relaxed);
    pthread_mutex_unlock(&w->mu);
    int any = it != NULL;
    while (it) {
        struct write_item *next = it->next;
        it->next = NULL;
        it->done(it);
        it = next;
    }
    if (any && w->after_completions)
        w->after_completions(w->after_arg);
}

void writer_poll(struct writer *w)
{
    if (atomic_load_explicit(&w->done_ready, memory_order_acquire))
        run_completions(w);
}

static void on_async(uv_async_t *h)
{
    run_completions(h->data);
}

int writer_start(struct writer *w, uv_loop_t *loop, struct store *st)
{
    w->st = st;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    int rc = uv_async_init(loop, &w->async, on_async);
    if (rc)
        return rc;
    w->async.data = w;
    rc = pthread_create(&w->thread, NULL, writer_main, w);
    if (rc) {
        uv_close((uv_handle_t *)&w->async, NULL);
        return -rc;
    }
    return 0;
}

void writer_submit(struct writer *w, struct write_item *item)
{
    item->next = NULL;
    if (w->joined) {
        /* Stopped: nothing is committed any more; say so at once. */
        item->status = KANAL_ESTOPPED;
        item->done(item);
        return;
    }
    pthread_mutex_lock(&w->mu);
    if (w->in_tail)
        w->in_tail->next = item;
    else
        w->in_head = item;
    w->in_tail = item;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void writer_stop(struct writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    w->joined = 1;
    run_completions(w);
    uv_close((uv_handle_t *)&w->async, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}
