/* SPDX-License-Identifier: Apache-2.0 */
/* bench/score's helper (bench/score runs it).
 *
 *   score fill DIR N CONTACTS   grow the store in DIR to N records of a
 *                               social audience of CONTACTS customers, with
 *                               the daemon's own writer_commit_batch
 *                               (contacts resolved in the writer, as at
 *                               ingest; batches of 10000, sync none)
 *   score run DIR               one full scoring run on the store, kanald's
 *                               own (score_work_run with the default
 *                               configuration, each audience's rows made
 *                               and kept in the store as kanald's work
 *                               thread and writer do); prints the seconds
 *                               and the peak anonymous RSS of this process;
 *                               with KANAL_BENCH_SCORE_DEBUG set, the run's
 *                               debug line on stderr too (where its time
 *                               went: finding the audiences, reading the
 *                               records, the documents)
 *
 * The records look like a brand's real ingest, record i made from i alone
 * (so that a store grows from 100k to 1M to 3M records and stays the one
 * workload): Facebook posts and comments, replies, reactions and shares
 * answering earlier ones (and the brand answering), X mentions naming
 * other customers, peer messages between customers in a community forum,
 * WhatsApp messages to the brand, sign-ups to 20 events and clicks on 10
 * campaigns' links (a tenth marked as scanner clicks).  The first CONTACTS
 * records each bring a new customer; after them authors are drawn with a
 * heavy tail, as activity is: a few customers write much, most little. */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "audience.h"
#include "jarena.h"
#include "jsonin.h"
#include "keep.h"
#include "run.h"
#include "log.h"
#include "store.h"
#include "writer.h"

#define FILL_BATCH 10000
#define EVENTS 20
#define CAMPAIGNS 10
/* Interactions are 5 s apart, from this time on (2026-01-01). */
#define EPOCH_S 1767225600LL
#define STEP_S 5
#define HALF_LIFE_MS (30LL * 24 * 3600 * 1000)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the workload ---- */

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A uniform number in [0, 1) drawn for record i, the k-th draw. */
static double draw(uint64_t i, unsigned k)
{
    return (double)(mix(i * 16 + k) >> 11) / 9007199254740992.0;
}

enum act {
    POST,
    COMMENT,
    REPLY,
    REACTION,
    SHARE,
    BRAND_REPLY,
    MENTION,
    PEER,
    WHATSAPP,
    SIGNUP,
    CLICK
};

/* What record i is: the mix of a brand's channels. */
static enum act act_of(uint64_t i)
{
    double u = draw(i, 0) * 100;
    static const struct {
        double upto;
        enum act act;
    } mixes[] = {{8, POST},      {22, COMMENT},     {40, REPLY},   {50, REACTION},
                 {54, SHARE},    {60, BRAND_REPLY}, {70, MENTION}, {78, PEER},
                 {88, WHATSAPP}, {94, SIGNUP},      {100, CLICK}};
    for (size_t k = 0; k < sizeof mixes / sizeof mixes[0]; k++)
        if (u < mixes[k].upto)
            return mixes[k].act;
    return CLICK;
}

static int on_facebook(enum act a)
{
    return a == POST || a == COMMENT || a == REPLY || a == REACTION || a == SHARE ||
           a == BRAND_REPLY;
}

/* The customer who wrote record i (k: which draw): each of the first
 * `contacts` records brings a new one, then a heavy tail. */
static uint64_t customer(uint64_t i, unsigned k, uint64_t contacts)
{
    if (k == 1 && i < contacts)
        return i;
    double u = draw(i, k);
    return (uint64_t)((double)contacts * u * u * u) % contacts;
}

static void handle_of(uint64_t c, char *out, size_t len)
{
    switch (c % 3) {
    case 0:
        snprintf(out, len, "email:u%" PRIu64 "@example.com", c);
        break;
    case 1:
        snprintf(out, len, "wa:90532%07" PRIu64, c);
        break;
    default:
        snprintf(out, len, "fb:1000/%" PRIu64, 5000000 + c);
    }
}

static json_t *party(const char *handle, const char *role)
{
    return json_pack("{s:s,s:s,s:[s]}", "handle", handle, "role", role, "handles", handle);
}

static void time_of(uint64_t i, char *out, size_t len)
{
    time_t t = (time_t)(EPOCH_S + (int64_t)i * STEP_S);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

/* An earlier Facebook record for record i to answer, or 0. */
static uint64_t answered(uint64_t i)
{
    for (unsigned k = 0; k < 8 && i > 1; k++) {
        /* Mostly recent ones: a thread lives for a while. */
        double u = draw(i, 8 + k);
        uint64_t back = 1 + (uint64_t)(u * u * 20000.0);
        if (back >= i)
            continue;
        if (on_facebook(act_of(i - back)))
            return i - back;
    }
    return 0;
}

static json_t *make_record(uint64_t i, uint64_t contacts, char *idem, size_t *idem_len)
{
    enum act a = act_of(i);
    char ext[32], id[96], at[32], who[64], other[64];
    snprintf(ext, sizeof ext, "x%" PRIu64, i);
    time_of(i, at, sizeof at);
    handle_of(customer(i, 1, contacts), who, sizeof who);
    uint64_t c2 = customer(i, 2, contacts);
    if (c2 == customer(i, 1, contacts))
        c2 = (c2 + 1) % contacts;
    handle_of(c2, other, sizeof other);
    static const char *const kinds[] = {"post",    "comment", "comment", "reaction",
                                        "share",   "comment", "mention", "message",
                                        "message", "signup",  "click"};
    const char *source = on_facebook(a)  ? "fb"
                         : a == MENTION  ? "x"
                         : a == PEER     ? "forum"
                         : a == WHATSAPP ? "wa"
                         : a == SIGNUP   ? "forms"
                                         : "links";
    const char *channel = on_facebook(a)  ? "facebook"
                          : a == MENTION  ? "twitter"
                          : a == WHATSAPP ? "whatsapp"
                                          : "web";
    const char *kind = kinds[a];
    const char *dir = a == BRAND_REPLY ? "outbound" : a == PEER ? "peer" : "inbound";
    json_t *from = a == BRAND_REPLY ? party("fbpage:1000", "brand") : party(who, "customer");
    snprintf(id, sizeof id, "%s/%s/%s", source, kind, ext);
    json_t *rec = json_pack("{s:i,s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:[],s:[],s:s,s:[],"
                            "s:{}}",
                            "v", 1, "seq", 0, "id", id, "source", source, "channel", channel,
                            "kind", kind, "direction", dir, "occurred_at", at, "received_at", at,
                            "external_id", ext, "from", from, "to", "mentions", "text",
                            "Merhaba, siparişim geldi, çok teşekkürler! Kargo hızlıydı.",
                            "attachments", "meta");
    if (!rec)
        return NULL;
    uint64_t j = (a == REPLY || a == REACTION || a == SHARE || a == BRAND_REPLY) ? answered(i) : 0;
    if (j) {
        char r[32];
        snprintf(r, sizeof r, "x%" PRIu64, j);
        json_object_set_new(rec, "reply_to", json_string(r));
    }
    if (a == COMMENT || a == POST)
        json_object_set_new(rec, "thread", json_string(ext));
    if (a == MENTION) {
        json_array_append_new(json_object_get(rec, "to"), party("x:1000", "brand"));
        json_array_append_new(json_object_get(rec, "mentions"), party(other, "customer"));
    } else if (a == PEER) {
        json_array_append_new(json_object_get(rec, "to"), party(other, "customer"));
    } else if (a == WHATSAPP || a == POST || a == COMMENT) {
        json_array_append_new(json_object_get(rec, "to"),
                              party(a == WHATSAPP ? "wa:905320000000" : "fbpage:1000", "brand"));
    } else if (a == SIGNUP) {
        char ev[16];
        snprintf(ev, sizeof ev, "ev%u", (unsigned)(mix(i) % EVENTS));
        json_object_set_new(rec, "event", json_pack("{s:s}", "id", ev));
    } else if (a == CLICK) {
        char camp[16];
        snprintf(camp, sizeof camp, "camp%u", (unsigned)(mix(i) % CAMPAIGNS));
        json_object_set_new(rec, "campaign", json_string(camp));
        if (draw(i, 3) < 0.1)
            json_object_set_new(json_object_get(rec, "meta"), "suspected_bot", json_true());
    }
    *idem_len = store_idem_key(idem, 128, source, kind, ext);
    return rec;
}

static struct write_item *make_item(uint64_t i, uint64_t contacts)
{
    char idem[128];
    size_t klen = 0;
    json_t *rec = make_record(i, contacts, idem, &klen);
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

/* Building the records costs about as much as committing them: a helper
 * thread builds the next batch and frees the last one meanwhile. */
struct prep {
    uint64_t first, n, contacts;
    struct write_item *build, *retire;
};

static void *prepare(void *arg)
{
    struct prep *p = arg;
    free_items(p->retire);
    p->retire = NULL;
    struct write_item *head = NULL, **tail = &head;
    for (uint64_t i = 0; i < p->n; i++) {
        if (!(*tail = make_item(p->first + i, p->contacts))) {
            free_items(head);
            head = NULL;
            break;
        }
        tail = &(*tail)->next;
    }
    p->build = head;
    return NULL;
}

static int fill(const char *dir, uint64_t total, uint64_t contacts)
{
    char err[512];
    struct store st;
    if (store_open(&st, dir, SYNC_NONE, (size_t)1 << 30, err, sizeof err) < 0) {
        fprintf(stderr, "score: %s\n", err);
        return 1;
    }
    double t0 = now_s();
    uint64_t done = store_last_seq(&st), first = done;
    struct prep p = {.first = done + 1, .contacts = contacts};
    p.n = total - done < FILL_BATCH ? total - done : FILL_BATCH;
    prepare(&p);
    int rc = 0;
    while (p.n > 0 && rc == 0) {
        struct write_item *batch = p.build;
        pthread_t helper;
        if (!batch) {
            rc = -ENOMEM;
            break;
        }
        done += p.n;
        p = (struct prep){.first = done + 1,
                          .contacts = contacts,
                          .n = total - done < FILL_BATCH ? total - done : FILL_BATCH};
        if (pthread_create(&helper, NULL, prepare, &p) != 0) {
            free_items(batch);
            rc = -EAGAIN;
            break;
        }
        if ((rc = writer_commit_batch(&st, batch, NULL)) < 0)
            fprintf(stderr, "score: commit failed: %d\n", rc);
        pthread_join(helper, NULL);
        p.retire = batch;
    }
    free_items(p.retire);
    free_items(p.build);
    /* Merges (none are expected) would add records of their own. */
    if (rc == 0 && store_last_seq(&st) < total) {
        fprintf(stderr, "score: the store holds %" PRIu64 " records, not %" PRIu64 "\n",
                store_last_seq(&st), total);
        rc = -1;
    }
    store_close(&st);
    if (rc == 0)
        printf("fill: %" PRIu64 " records written in %.1f s\n", total - first, now_s() - t0);
    return rc ? 1 : 0;
}

/* ---- the run ---- */

/* The peak of RssAnon (not VmHWM, which counts the store's mapped pages
 * too): sampled every 2 ms by a thread while the run goes on. */
struct sampler {
    volatile int stop;
    long peak_kb;
};

static long rss_anon_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "RssAnon: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static void *sample(void *arg)
{
    struct sampler *s = arg;
    while (!s->stop) {
        long kb = rss_anon_kb();
        if (kb > s->peak_kb)
            s->peak_kb = kb;
        usleep(2000);
    }
    return NULL;
}

/* What kanald does with each audience (runtime/scores.c): run.c makes its
 * rows at once (never its whole document) and hands them on; a keeper
 * thread, as kanald's writer, puts them in the store (score_kept_put), one
 * audience per transaction, while the next audience is made; an audience
 * made waits until the one before has been kept, so that at most two
 * audiences' rows are held.  The LMDB pages a transaction dirties are
 * this process's memory too, as they are kanald's. */
struct keeper {
    struct store *st;
    struct score_work *w;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct score_kept *next; /* made, waiting for the keeper */
    int busy, done, rc;
    struct sampler *s;
    long reading_kb; /* the peak until the first audience was made */
    size_t contacts, failed, bytes, commits;
    double keeping; /* seconds in the keeper's commits */
};

static int put_rows(struct write_item *it, struct store *st, MDB_txn *txn)
{
    return score_kept_put(st, txn, it->arg, 1, NULL);
}

static void *keeper_main(void *arg)
{
    struct keeper *k = arg;
    pthread_mutex_lock(&k->mu);
    for (;;) {
        while (!k->next && !k->done)
            pthread_cond_wait(&k->cv, &k->mu);
        if (!k->next)
            break;
        struct score_kept *rows = k->next;
        k->next = NULL;
        k->busy = 1;
        pthread_mutex_unlock(&k->mu);
        double t = now_s();
        struct write_item it = {.apply = put_rows, .arg = rows};
        int rc = writer_commit_batch(k->st, &it, NULL);
        free(it.seqs);
        double took = now_s() - t;
        score_kept_free(rows);
        free(rows);
        malloc_trim(0); /* as kanald's keep_done does */
        pthread_mutex_lock(&k->mu);
        k->keeping += took;
        k->commits++;
        if (rc && !k->rc)
            k->rc = rc;
        k->busy = 0;
        pthread_cond_broadcast(&k->cv);
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

static int keep_rows(void *arg, size_t i, struct score_kept *rows, int status)
{
    struct keeper *k = arg;
    size_t bytes = 0;
    if (!status) {
        bytes = rows->summary_len;
        for (size_t r = 0; r < rows->nrows; r++)
            bytes += rows->rows[r].len;
    }
    /* Two threads make audiences (run.h): the counts under the lock. */
    pthread_mutex_lock(&k->mu);
    if (!k->reading_kb)
        k->reading_kb = k->s->peak_kb;
    if (status) {
        k->failed++;
        pthread_mutex_unlock(&k->mu);
        return 0;
    }
    if (strcmp(k->w->auds[i].id, "all") == 0)
        k->contacts = rows->nrows;
    k->bytes += bytes;
    pthread_mutex_unlock(&k->mu);
    struct score_kept *made = malloc(sizeof *made);
    if (!made)
        return -ENOMEM;
    *made = *rows;
    pthread_mutex_lock(&k->mu);
    while ((k->next || k->busy) && !k->rc)
        pthread_cond_wait(&k->cv, &k->mu);
    int rc = k->rc;
    if (!rc) {
        k->next = made;
        pthread_cond_broadcast(&k->cv);
    }
    pthread_mutex_unlock(&k->mu);
    if (rc) {
        score_kept_free(made);
        free(made);
    }
    return rc;
}

static void keep_drained(void *arg)
{
    struct keeper *k = arg;
    pthread_mutex_lock(&k->mu);
    while ((k->next || k->busy) && !k->rc)
        pthread_cond_wait(&k->cv, &k->mu);
    pthread_mutex_unlock(&k->mu);
}

static int run(const char *dir)
{
    char err[512];
    struct store st;
    if (store_open(&st, dir, SYNC_NONE, 0, err, sizeof err) < 0) {
        fprintf(stderr, "score: %s\n", err);
        return 1;
    }
    struct sampler s = {0};
    s.peak_kb = rss_anon_kb();
    long before_kb = s.peak_kb;
    pthread_t th, kt;
    pthread_create(&th, NULL, sample, &s);
    double t0 = now_s();
    /* kanald's run with the default configuration: score_work_run, the
     * work thread's body. */
    struct score_work w = {0};
    score_work_defaults(&w);
    w.st = &st;
    w.upto = store_last_seq(&st);
    w.now_ms = (EPOCH_S + 200LL * 86400) * 1000;
    /* KANAL_BENCH_SCORE_THREADS=1: the documents made on one thread, as
     * before they were made on two (a before/after in one bench run). */
    if (getenv("KANAL_BENCH_SCORE_THREADS"))
        w.threads = atoi(getenv("KANAL_BENCH_SCORE_THREADS"));
    struct keeper k = {.st = &st, .w = &w, .s = &s};
    pthread_mutex_init(&k.mu, NULL);
    pthread_cond_init(&k.cv, NULL);
    pthread_create(&kt, NULL, keeper_main, &k);
    w.kept = keep_rows;
    w.drained = keep_drained;
    w.arg = &k;
    int rc = score_work_run(&w);
    pthread_mutex_lock(&k.mu);
    k.done = 1;
    pthread_cond_broadcast(&k.cv);
    pthread_mutex_unlock(&k.mu);
    pthread_join(kt, NULL);
    double t2 = now_s();
    s.stop = 1;
    pthread_join(th, NULL);
    if (!rc)
        rc = k.rc;
    size_t n = w.naud;
    uint64_t seq = w.upto;
    score_work_free(&w);
    store_close(&st);
    if (rc) {
        fprintf(stderr, "score: the run failed: %d\n", rc);
        return 1;
    }
    /* bench/score reads this line. */
    printf("run: records=%" PRIu64 " contacts=%zu audiences=%zu unconverged=%zu "
           "seconds=%.3f peak_anon_mb=%.1f base_anon_mb=%.1f "
           "documents_mb=%.1f keeping=%.3f commits=%zu reading_anon_mb=%.1f\n",
           seq, k.contacts, n, k.failed, t2 - t0, (double)s.peak_kb / 1024.0,
           (double)before_kb / 1024.0, (double)k.bytes / 1e6, k.keeping, k.commits,
           (double)k.reading_kb / 1024.0);
    return 0;
}

int main(int argc, char **argv)
{
    /* KANAL_BENCH_SCORE_DEBUG=1: the run's debug line, where its time
     * went. */
    log_setup(getenv("KANAL_BENCH_SCORE_DEBUG") ? KANAL_LOG_DEBUG : KANAL_LOG_WARNING, 0);
    jarena_setup(); /* as kanald does: the records' arenas */
    if (argc == 5 && strcmp(argv[1], "fill") == 0)
        return fill(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10));
    if (argc == 3 && strcmp(argv[1], "run") == 0)
        return run(argv[2]);
    fprintf(stderr, "usage: score fill DIR N CONTACTS | score run DIR\n");
    return 2;
}
