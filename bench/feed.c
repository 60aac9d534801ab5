/* SPDX-License-Identifier: Apache-2.0 */
/* bench/feed's helper (bench/feed runs it).
 *
 *   feed fill DIR N   write a store of N records into DIR with the daemon's
 *                     own writer_commit_batch (batches of 10000, sync none):
 *                     the store kanald would have after N webhook records
 *   feed read DIR     read every record of the store in DIR through libkanal
 *                     and print the rate, "feed reader: N records/s"
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <kanal/reader.h>

#include "config.h"
#include "log.h"
#include "store.h"
#include "writer.h"

#define FILL_BATCH 10000
#define READER_TARGET 2000000.0

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One normalized inbound message, the size of a typical webhook record. */
static struct write_item *make_item(uint64_t n)
{
    char ext[48], id[96], idem[128];
    snprintf(ext, sizeof ext, "feed-%012" PRIu64, n);
    snprintf(id, sizeof id, "bench/message/%s", ext);
    json_t *rec =
        json_pack("{s:i,s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,"
                  "s:{s:s,s:s,s:s,s:[s]},s:[],s:[],s:s,s:[],s:{}}",
                  "v", 1, "seq", 0, "id", id, "source", "bench", "channel", "webhook", "kind",
                  "message", "direction", "inbound", "occurred_at", "2026-11-23T10:00:00.000Z",
                  "received_at", "2026-11-23T10:00:00.123Z", "external_id", ext, "from", "handle",
                  "email:ayse@example.com", "name", "Ayşe Yılmaz", "role", "customer", "handles",
                  "email:ayse@example.com", "to", "mentions", "text",
                  "Merhaba, siparişim hâlâ gelmedi; kargo takip numarası çalışmıyor. "
                  "Yardımcı olabilir misiniz?",
                  "attachments", "meta");
    size_t klen = store_idem_key(idem, sizeof idem, "bench", "message", ext);
    struct write_item *it = calloc(1, sizeof *it);
    struct write_record *wr = calloc(1, sizeof *wr);
    char *key = malloc(klen);
    if (!rec || !it || !wr || !key) {
        json_decref(rec);
        free(it);
        free(wr);
        free(key);
        return NULL;
    }
    memcpy(key, idem, klen);
    *wr = (struct write_record){.rec = rec, .idem = key, .idem_len = klen};
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

/* Building and freeing the records (jansson) costs about as much as
 * committing them: a helper thread builds the next batch and frees the last
 * one while this one commits. */
struct prep {
    uint64_t first, n;         /* build records first .. first + n - 1 */
    struct write_item *build;  /* out: the batch, NULL when out of memory */
    struct write_item *retire; /* in: a committed batch to free */
};

static void *prepare(void *arg)
{
    struct prep *p = arg;
    free_items(p->retire);
    p->retire = NULL;
    struct write_item *head = NULL, **tail = &head;
    for (uint64_t i = 0; i < p->n; i++) {
        if (!(*tail = make_item(p->first + i))) {
            free_items(head);
            head = NULL;
            break;
        }
        tail = &(*tail)->next;
    }
    p->build = head;
    return NULL;
}

static int fill(const char *dir, uint64_t total)
{
    char err[512];
    struct store st;
    if (store_open(&st, dir, SYNC_NONE, (size_t)1 << 30, err, sizeof err) < 0) {
        fprintf(stderr, "feed: %s\n", err);
        return 1;
    }
    double t0 = now_s();
    uint64_t done = store_last_seq(&st);
    struct prep p = {.first = done + 1, .n = total - done < FILL_BATCH ? total - done : FILL_BATCH};
    prepare(&p);
    int rc = 0;
    while (p.n > 0 && rc == 0) {
        struct write_item *batch = p.build;
        uint64_t n = p.n;
        pthread_t helper;
        if (!batch) {
            rc = -ENOMEM;
            break;
        }
        done += n;
        p = (struct prep){.first = done + 1,
                          .n = total - done < FILL_BATCH ? total - done : FILL_BATCH};
        if (pthread_create(&helper, NULL, prepare, &p) != 0) {
            free_items(batch);
            rc = -EAGAIN;
            break;
        }
        if ((rc = writer_commit_batch(&st, batch, NULL)) < 0)
            fprintf(stderr, "feed: commit failed: %d\n", rc);
        pthread_join(helper, NULL);
        p.retire = batch;
    }
    free_items(p.retire);
    free_items(p.build);
    if (rc == 0 && store_last_seq(&st) != total) {
        fprintf(stderr, "feed: the store holds %" PRIu64 " records, not %" PRIu64 "\n",
                store_last_seq(&st), total);
        rc = -1;
    }
    store_close(&st);
    if (rc == 0)
        printf("feed: wrote %" PRIu64 " records in %.1f s\n", total, now_s() - t0);
    return rc ? 1 : 0;
}

static int read_all(const char *dir)
{
    struct kanal_reader *r;
    int rc = kanal_reader_open(&r, dir);
    if (rc) {
        fprintf(stderr, "feed: cannot open store %s: %s\n", dir, kanal_reader_strerror(rc));
        return 1;
    }
    uint64_t last = 0, seq = 0, count = 0, bytes = 0;
    const char *json;
    size_t len;
    kanal_reader_last_seq(r, &last);
    double t0 = now_s();
    while ((rc = kanal_reader_next(r, &seq, &json, &len)) == 0) {
        if (seq != count + 1)
            break;
        count++;
        bytes += len;
    }
    double dt = now_s() - t0;
    kanal_reader_close(r);
    if (rc != -EAGAIN || count != last) {
        fprintf(stderr, "feed: read %" PRIu64 " of %" PRIu64 " records: %s\n", count, last,
                rc ? kanal_reader_strerror(rc) : "a seq out of order");
        return 1;
    }
    double rate = dt > 0 ? (double)count / dt : 0;
    printf("feed reader: %.0f records/s (%" PRIu64 " records, %.0f MB of JSON in %.2f s; "
           "target >= %.0f/s: %s)\n",
           rate, count, (double)bytes / 1e6, dt, READER_TARGET,
           rate >= READER_TARGET ? "met" : "MISSED");
    return 0;
}

int main(int argc, char **argv)
{
    log_setup(KANAL_LOG_WARNING, 0);
    if (argc == 4 && strcmp(argv[1], "fill") == 0)
        return fill(argv[2], strtoull(argv[3], NULL, 10));
    if (argc == 3 && strcmp(argv[1], "read") == 0)
        return read_all(argv[2]);
    fprintf(stderr, "usage: feed fill DIR N | feed read DIR\n");
    return 2;
}
