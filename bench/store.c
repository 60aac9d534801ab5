/* SPDX-License-Identifier: Apache-2.0 */
/* bench/store: committed records per second through writer_commit_batch.
 *
 * Opens a fresh store (sync = full) in a temporary directory and commits
 * records in transactions of 1, 64 and 1024 items (one record per item, the
 * shape a webhook request takes on its way through the writer).  Only the
 * writer_commit_batch calls are timed: building the records (the loop
 * thread's work in kanald) is not.  Each batch size gets its own store, and
 * a run stops early once it has spent its time budget, so a slow disk
 * bounds the run instead of stretching it.
 *
 *   usage: store [SIZE:RECORDS ...]      default 1:2000 64:100000 1024:100000
 *   env:   KANAL_BENCH_STORE_BUDGET_S    time budget per batch size (20)
 *          TMPDIR                        where the temporary stores go (/tmp)
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "log.h"
#include "store.h"
#include "writer.h"


static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rmtree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* One normalized inbound message, about the size kanald stores for the
 * webhook bench's payloads. */
static struct write_item *make_item(uint64_t n)
{
    char ext[48], id[96], idem[128];
    snprintf(ext, sizeof ext, "bench-%012llu", (unsigned long long)n);
    snprintf(id, sizeof id, "bench/message/%s", ext);
    json_t *rec = json_pack(
        "{s:i,s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,"
        "s:{s:s,s:s,s:[s]},s:[],s:[],s:s,s:[],s:{}}",
        "v", 1, "seq", 0, "id", id, "source", "bench", "channel", "webhook", "kind", "message",
        "direction", "inbound", "occurred_at", "2026-11-23T10:00:00.000Z", "received_at",
        "2026-11-23T10:00:00.123Z", "external_id", ext, "from", "handle",
        "email:ayse@example.com", "role", "customer", "handles", "email:ayse@example.com", "to",
        "mentions", "text",
        "Merhaba, siparişim hâlâ gelmedi; kargo takip numarası çalışmıyor. "
        "Yardımcı olabilir misiniz?",
        "attachments", "meta");
    if (!rec)
        return NULL;
    size_t klen = store_idem_key(idem, sizeof idem, "bench", "message", ext);
    struct write_item *it = calloc(1, sizeof *it);
    struct write_record *wr = calloc(1, sizeof *wr);
    char *key = malloc(klen);
    if (!it || !wr || !key) {
        free(it);
        free(wr);
        free(key);
        json_decref(rec);
        return NULL;
    }
    memcpy(key, idem, klen);
    wr->rec = rec;
    wr->idem = key;
    wr->idem_len = klen;
    it->recs = wr;
    it->nrecs = 1;
    return it;
}

static void free_items(struct write_item *items)
{
    while (items) {
        struct write_item *next = items->next;
        write_item_free(items);
        items = next;
    }
}

/* Commit `total` records in batches of `batch`; 0 or -1 on error. */
static int run(const char *base, size_t batch, uint64_t total, double budget_s)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/kanal-bench-store-XXXXXX", base);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "store: mkdtemp %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char store_dir[4200], err[512];
    snprintf(store_dir, sizeof store_dir, "%s/store", dir);
    struct store st;
    if (store_open(&st, store_dir, SYNC_FULL, 0, err, sizeof err) < 0) {
        fprintf(stderr, "store: %s\n", err);
        rmtree(dir);
        return -1;
    }
    struct writer_stats stats;
    memset(&stats, 0, sizeof stats);
    uint64_t done = 0, commits = 0, next_id = 1;
    double timed = 0, worst = 0, started = now_s();
    int rc = 0, truncated = 0;
    while (done < total) {
        if (now_s() - started > budget_s) {
            truncated = 1;
            break;
        }
        size_t n = batch;
        if (total - done < n)
            n = (size_t)(total - done);
        struct write_item *head = NULL, **tail = &head;
        for (size_t i = 0; i < n; i++) {
            struct write_item *it = make_item(next_id++);
            if (!it) {
                fprintf(stderr, "store: out of memory\n");
                free_items(head);
                rc = -1;
                goto out;
            }
            *tail = it;
            tail = &it->next;
        }
        double t0 = now_s();
        int r = writer_commit_batch(&st, head, &stats);
        double dt = now_s() - t0;
        if (r < 0) {
            fprintf(stderr, "store: writer_commit_batch failed: %d\n", r);
            free_items(head);
            rc = -1;
            goto out;
        }
        for (struct write_item *it = head; it; it = it->next)
            if (it->status || it->nnew != 1) {
                fprintf(stderr, "store: an item was not stored (status %d)\n", it->status);
                rc = -1;
            }
        free_items(head);
        if (rc)
            goto out;
        timed += dt;
        if (dt > worst)
            worst = dt;
        done += n;
        commits++;
    }
    if (store_last_seq(&st) != done) {
        fprintf(stderr, "store: last seq %llu, expected %llu\n",
                (unsigned long long)store_last_seq(&st), (unsigned long long)done);
        rc = -1;
        goto out;
    }
    printf("store batch=%zu: %.0f records/s (%llu records in %llu commits, %.2f s committing, "
           "%.2f ms per commit, worst %.2f ms, sync = full)%s\n",
           batch, timed > 0 ? (double)done / timed : 0.0, (unsigned long long)done,
           (unsigned long long)commits, timed, commits ? timed * 1e3 / (double)commits : 0.0,
           worst * 1e3, truncated ? " [stopped at the time budget]" : "");
    fflush(stdout);
out:
    store_close(&st);
    rmtree(dir);
    return rc;
}

int main(int argc, char **argv)
{
    static const char *defaults[] = {"1:2000", "64:100000", "1024:100000"};
    const char **specs = defaults;
    int nspecs = 3;
    if (argc > 1) {
        specs = (const char **)argv + 1;
        nspecs = argc - 1;
    }
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    double budget = 20;
    const char *b = getenv("KANAL_BENCH_STORE_BUDGET_S");
    if (b && atof(b) > 0)
        budget = atof(b);
    log_setup(KANAL_LOG_WARNING, 0);

    int failed = 0;
    for (int i = 0; i < nspecs; i++) {
        unsigned long long size = 0, total = 0;
        if (sscanf(specs[i], "%llu:%llu", &size, &total) != 2 || !size || !total) {
            fprintf(stderr, "store: bad spec '%s' (want BATCH:RECORDS)\n", specs[i]);
            return 2;
        }
        if (run(base, (size_t)size, total, budget) < 0)
            failed = 1;
    }
    return failed;
}
