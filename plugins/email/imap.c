/* SPDX-License-Identifier: Apache-2.0 */
/* Polling an IMAP mailbox through the host's async transfers (libcurl on
 * the host's curl multi: nothing here blocks the loop).
 *
 * One poll:
 *   STATUS "<mailbox>" (UIDVALIDITY UIDNEXT)   what is there, under which UIDVALIDITY
 *   UID SEARCH UID <last+1>:*                  the new UIDs (URL ;UIDVALIDITY=v)
 *   UID FETCH <uid> BODY[]                     each message (URL ;UIDVALIDITY=v/;UID=u)
 * Every poll starts on a new connection (see run()).  Fetched messages are
 * committed in batches together with the cursor
 * "<uidvalidity> <last uid>" (state key "imap"), so after a crash the next
 * poll starts exactly after the last committed message.  When UIDVALIDITY
 * changes the mailbox is scanned again from the start; the messages already
 * stored are recognised by their ids (see ingest.c) and store nothing new.
 * A server that is down or refuses the login is retried with exponential
 * backoff and reported in the source's health until a poll succeeds. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "email.h"

#define FETCH_BATCH 20                /* messages per commit */
#define BATCH_BYTES (8 * 1024 * 1024) /* or this much mail */
#define MAX_UIDS 1000                 /* messages per poll; the next poll follows at once */
#define TRANSFER_TIMEOUT_MS 120000
#define CONNECT_TIMEOUT_MS 15000
#define BACKOFF_MAX_MS 300000

enum phase { IDLE, STATUS, SEARCH, FETCH, COMMIT };

struct imap {
    struct email *e;
    char *base;    /* scheme://host[:port]/ */
    char *path;    /* the mailbox as written in the URL path */
    char *mailbox; /* the mailbox name, quoted for STATUS */
    CURL *easy;    /* kept between transfers: the connection stays open */
    char errbuf[CURL_ERROR_SIZE];
    struct kanal_timer *timer;
    enum phase phase;
    int busy, stopping;
    /* The committed cursor. */
    uint32_t validity, last_uid;
    /* This poll. */
    uint32_t cur_validity, scan_from;
    uint32_t *uids;
    size_t nuids, next;
    int more;
    /* The response of the current transfer. */
    char *resp;
    size_t resp_len, resp_cap;
    int truncated;
    /* The batch being fetched. */
    struct mail_batch batch;
    int batch_open;
    size_t batch_first, batch_bytes;
    uint32_t batch_last;
    int single; /* one message per commit, after a refused record */
    uint32_t missing_uid, missing_validity;
    int failures;
};

static void poll_start(struct imap *im);
static void fetch_next(struct imap *im);

/* ---- plumbing ---- */

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    struct imap *im = arg;
    size_t len = size * n, limit = (size_t)im->e->max_message_size;
    if (im->resp_len + len > limit) {
        im->truncated = 1; /* keep the head: headers and the start of the text */
        len = limit > im->resp_len ? limit - im->resp_len : 0;
    }
    if (im->resp_len + len + 1 > im->resp_cap) {
        size_t cap = im->resp_cap ? im->resp_cap : 65536;
        while (cap < im->resp_len + len + 1)
            cap *= 2;
        char *p = realloc(im->resp, cap);
        if (!p)
            return 0;
        im->resp = p;
        im->resp_cap = cap;
    }
    memcpy(im->resp + im->resp_len, data, len);
    im->resp_len += len;
    im->resp[im->resp_len] = '\0';
    return size * n;
}

static void on_timer(void *arg)
{
    struct imap *im = arg;
    im->e->host->timer_stop(im->timer);
    im->timer = NULL;
    poll_start(im);
}

static void schedule(struct imap *im, uint64_t ms)
{
    if (im->timer)
        im->e->host->timer_stop(im->timer);
    im->timer = NULL;
    if (!im->stopping)
        im->e->host->timer_start(im->e->src, ms, 0, on_timer, im, &im->timer);
}

static void drop_batch(struct imap *im)
{
    if (im->batch_open)
        batch_free(im->e, &im->batch);
    im->batch_open = 0;
}

static void open_batch(struct imap *im)
{
    drop_batch(im);
    batch_init(&im->batch);
    im->batch_open = 1;
    im->batch_first = im->next;
    im->batch_bytes = 0;
    im->batch_last = im->scan_from;
}

static void poll_done(struct imap *im)
{
    im->phase = IDLE;
    im->failures = 0;
    im->single = 0;
    email_health(im->e, "imap", NULL);
    schedule(im, im->more ? 0 : (uint64_t)im->e->poll_interval_ms);
}

static void poll_failed(struct imap *im, const char *what, const char *why)
{
    struct email *e = im->e;
    drop_batch(im);
    im->phase = IDLE;
    im->failures++;
    int64_t delay = 1000;
    for (int i = 1; i < im->failures && delay < BACKOFF_MAX_MS; i++)
        delay *= 2;
    if (delay > BACKOFF_MAX_MS)
        delay = BACKOFF_MAX_MS;
    char reason[600];
    snprintf(reason, sizeof reason, "imap: %s: %s", what, why);
    e->host->log(e->src, KANAL_LOG_WARNING, "%s (attempt %d; next in %lld s)", reason, im->failures,
                 (long long)(delay / 1000));
    email_health(e, "imap", reason);
    schedule(im, (uint64_t)delay);
}

static void on_transfer(void *arg, int result, void *easy);

static void run(struct imap *im, enum phase phase, const char *url, const char *custom)
{
    im->resp_len = 0;
    im->truncated = 0;
    im->errbuf[0] = '\0';
    if (im->resp)
        im->resp[0] = '\0';
    curl_easy_setopt(im->easy, CURLOPT_URL, url);
    curl_easy_setopt(im->easy, CURLOPT_CUSTOMREQUEST, custom);
    /* Each poll logs in anew: on a session that has the mailbox selected,
     * servers answer STATUS (and even SEARCH) from the session's view,
     * which may not show mail delivered since (Dovecot does this). */
    curl_easy_setopt(im->easy, CURLOPT_FRESH_CONNECT, (long)(phase == STATUS));
    im->phase = phase;
    im->busy = 1;
    int r = im->e->host->transfer(im->e->src, im->easy, on_transfer, im);
    if (r < 0) {
        im->busy = 0;
        poll_failed(im, "cannot start a transfer", im->e->host->strerror(r));
    }
}

/* ---- committing ---- */

/* The batch is stored (or kept as unknown): advance the UID cursor; else
 * retry with backoff. */
static void batch_done(void *arg, const struct kanal_kit_result *res)
{
    struct imap *im = arg;
    im->busy = 0;
    if (res->outcome != KANAL_KIT_COMMITTED) {
        if (!im->stopping)
            poll_failed(im, "cannot store fetched mail", im->e->host->strerror(res->status));
        else
            drop_batch(im);
        return;
    }
    im->validity = im->cur_validity;
    im->last_uid = im->batch_last;
    im->scan_from = im->batch_last;
    drop_batch(im);
    if (im->stopping)
        return;
    if (im->next < im->nuids) {
        open_batch(im);
        fetch_next(im);
    } else {
        poll_done(im);
    }
}

/* The one message of a batch kanald refused, kept as kind unknown; the
 * refused batch's Message-IDs stop counting as pending (kanald is done
 * with it). */
static int build_unknown(void *arg, char **out)
{
    struct imap *im = arg;
    drop_batch(im);
    batch_init(&im->batch);
    im->batch_open = 1;
    struct mail_origin o = {.via = "imap", .uidvalidity = im->cur_validity, .uid = im->batch_last};
    return mail_unknown_json(im->e, im->resp, im->resp_len, &o, "its record was refused", out);
}

static void commit_batch(struct imap *im)
{
    struct email *e = im->e;
    char cursor[32];
    snprintf(cursor, sizeof cursor, "%" PRIu32 " %" PRIu32, im->cur_validity, im->batch_last);
    /* A single message kanald refuses (its log names the field) is kept all
     * the same, with the cursor past it; in a larger batch the one refused
     * is not known, so they are fetched again one by one. */
    int single = im->single && im->batch.nmessages == 1;
    const struct kanal_state_entry st = {"imap", cursor, strlen(cursor)};
    const struct kanal_kit_fallback fb = {
        .build = build_unknown, .build_arg = im, .states = &st, .nstates = 1};
    int r = batch_set_state(&im->batch, "imap", cursor, strlen(cursor));
    if (r == 0)
        r = batch_emit(e, &im->batch, single ? &fb : NULL, batch_done, im);
    if (r == KANAL_ERECORD && !single) {
        im->single = 1;
        im->next = im->batch_first;
        open_batch(im);
        fetch_next(im);
        return;
    }
    if (r < 0) {
        poll_failed(im, "cannot store fetched mail", e->host->strerror(r));
        return;
    }
    im->phase = COMMIT;
    im->busy = 1;
}

/* ---- the steps of a poll ---- */

static void fetch_next(struct imap *im)
{
    if (im->next == im->nuids) {
        commit_batch(im);
        return;
    }
    char *url;
    if (asprintf(&url, "%s%s;UIDVALIDITY=%" PRIu32 "/;UID=%" PRIu32, im->base, im->path,
                 im->cur_validity, im->uids[im->next]) < 0) {
        poll_failed(im, "fetch", strerror(ENOMEM));
        return;
    }
    run(im, FETCH, url, NULL);
    free(url);
}

static void after_fetch(struct imap *im)
{
    uint32_t uid = im->uids[im->next++];
    struct mail_origin o = {.via = "imap", .uidvalidity = im->cur_validity, .uid = uid};
    if (im->truncated)
        im->e->host->log(im->e->src, KANAL_LOG_WARNING,
                         "imap: message UID %" PRIu32 " is larger than max_message_size; "
                         "stored from its first %lld bytes",
                         uid, (long long)im->e->max_message_size);
    int r = batch_add_message(im->e, &im->batch, im->resp, im->resp_len, &o, im->truncated);
    if (r < 0) {
        poll_failed(im, "cannot read a fetched message", strerror(-r));
        return;
    }
    im->batch_last = uid;
    im->batch_bytes += im->resp_len;
    if (im->single || im->batch.nmessages >= FETCH_BATCH || im->batch_bytes >= BATCH_BYTES ||
        im->next == im->nuids)
        commit_batch(im);
    else
        fetch_next(im);
}

/* A UID that SEARCH listed cannot be fetched: UIDVALIDITY changed (libcurl
 * checks it), or the message was expunged meanwhile.  Poll again; if the
 * same UID fails twice under the same UIDVALIDITY, skip it. */
static void fetch_missing(struct imap *im)
{
    uint32_t uid = im->uids[im->next];
    if (uid == im->missing_uid && im->cur_validity == im->missing_validity) {
        im->e->host->log(im->e->src, KANAL_LOG_WARNING,
                         "imap: message UID %" PRIu32 " cannot be fetched; skipping it", uid);
        im->missing_uid = 0;
        im->next++;
        im->batch_last = uid;
        if (im->next == im->nuids)
            commit_batch(im);
        else
            fetch_next(im);
        return;
    }
    im->missing_uid = uid;
    im->missing_validity = im->cur_validity;
    drop_batch(im);
    im->phase = IDLE;
    schedule(im, 0);
}

static int uid_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void after_search(struct imap *im)
{
    const char *p = strstr(im->resp ? im->resp : "", "* SEARCH");
    im->nuids = im->next = 0;
    im->more = 0;
    size_t cap = 0;
    for (p = p ? p + 8 : NULL; p && *p && *p != '\r' && *p != '\n';) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        p = end;
        /* "n:*" always includes the last message, even when older than n. */
        if (v <= im->scan_from || v > UINT32_MAX)
            continue;
        if (im->nuids == cap) {
            cap = cap ? 2 * cap : 64;
            uint32_t *u = realloc(im->uids, cap * sizeof *u);
            if (!u) {
                poll_failed(im, "search", strerror(ENOMEM));
                return;
            }
            im->uids = u;
        }
        im->uids[im->nuids++] = (uint32_t)v;
    }
    if (im->nuids)
        qsort(im->uids, im->nuids, sizeof *im->uids, uid_cmp);
    if (im->nuids > MAX_UIDS) {
        im->nuids = MAX_UIDS;
        im->more = 1;
    }
    open_batch(im);
    if (im->nuids == 0 && im->cur_validity == im->validity) {
        drop_batch(im);
        poll_done(im);
        return;
    }
    /* New messages, or a new UIDVALIDITY to record even without any. */
    fetch_next(im);
}

static void after_status(struct imap *im)
{
    struct email *e = im->e;
    const char *line = strstr(im->resp ? im->resp : "", "* STATUS");
    const char *v = line ? strstr(line, "UIDVALIDITY ") : NULL;
    const char *n = line ? strstr(line, "UIDNEXT ") : NULL;
    if (!v) {
        poll_failed(im, "STATUS", "the answer has no UIDVALIDITY");
        return;
    }
    uint32_t validity = (uint32_t)strtoul(v + 12, NULL, 10);
    uint32_t uidnext = n ? (uint32_t)strtoul(n + 8, NULL, 10) : 0;
    if (im->validity && validity != im->validity)
        e->host->log(e->src, KANAL_LOG_NOTICE,
                     "imap: UIDVALIDITY of %s changed from %" PRIu32 " to %" PRIu32
                     ": scanning the mailbox again (messages already stored are recognised)",
                     im->path, im->validity, validity);
    im->cur_validity = validity;
    im->scan_from = validity == im->validity ? im->last_uid : 0;
    if (uidnext && uidnext - 1 <= im->scan_from && validity == im->validity) {
        poll_done(im);
        return;
    }
    char *url;
    char cmd[64];
    snprintf(cmd, sizeof cmd, "UID SEARCH UID %" PRIu32 ":*", im->scan_from + 1);
    if (asprintf(&url, "%s%s;UIDVALIDITY=%" PRIu32, im->base, im->path, validity) < 0) {
        poll_failed(im, "search", strerror(ENOMEM));
        return;
    }
    run(im, SEARCH, url, cmd);
    free(url);
}

static void on_transfer(void *arg, int result, void *easy)
{
    (void)easy;
    struct imap *im = arg;
    im->busy = 0;
    if (im->stopping) {
        drop_batch(im);
        return;
    }
    if (result != CURLE_OK) {
        const char *why = im->errbuf[0] ? im->errbuf : curl_easy_strerror((CURLcode)result);
        if (result == CURLE_REMOTE_FILE_NOT_FOUND && im->phase == FETCH) {
            fetch_missing(im);
        } else if (result == CURLE_REMOTE_FILE_NOT_FOUND && im->phase == SEARCH &&
                   im->failures == 0) {
            /* UIDVALIDITY changed between STATUS and SEARCH: poll again. */
            im->phase = IDLE;
            im->failures = 1;
            schedule(im, 0);
        } else {
            static const char *const names[] = {"", "STATUS", "SEARCH", "FETCH", ""};
            char what[160];
            snprintf(what, sizeof what, "%s %s%s", names[im->phase], im->base, im->path);
            poll_failed(im, what, why);
        }
        return;
    }
    switch (im->phase) {
    case STATUS:
        after_status(im);
        break;
    case SEARCH:
        after_search(im);
        break;
    case FETCH:
        after_fetch(im);
        break;
    default:
        break;
    }
}

static void poll_start(struct imap *im)
{
    if (im->busy || im->stopping)
        return;
    drop_batch(im);
    im->nuids = im->next = 0;
    im->more = 0;
    char *url, cmd[600];
    snprintf(cmd, sizeof cmd, "STATUS %s (UIDVALIDITY UIDNEXT)", im->mailbox);
    if (asprintf(&url, "%s", im->base) < 0) {
        poll_failed(im, "status", strerror(ENOMEM));
        return;
    }
    run(im, STATUS, url, cmd);
    free(url);
}

/* ---- lifecycle ---- */

/* Split imap_url into the server part and the mailbox. */
static int parse_url(struct imap *im, const char *url)
{
    CURLU *u = curl_url();
    char *path = NULL, *decoded = NULL, *base = NULL;
    int r = -EINVAL;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &decoded, CURLU_URLDECODE) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_PATH, "/", 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &base, 0) != CURLUE_OK)
        goto out;
    const char *p = path[0] == '/' ? path + 1 : path;
    const char *d = decoded[0] == '/' ? decoded + 1 : decoded;
    size_t pl = strcspn(p, ";/"), dl = strcspn(d, ";/");
    im->base = strdup(base);
    im->path = pl ? strndup(p, pl) : strdup("INBOX");
    /* An IMAP quoted string: backslash and double quote escaped. */
    im->mailbox = malloc(2 * (dl ? dl : 5) + 3);
    if (!im->base || !im->path || !im->mailbox) {
        r = -ENOMEM;
        goto out;
    }
    char *m = im->mailbox;
    const char *name = dl ? d : "INBOX";
    size_t nl = dl ? dl : 5;
    *m++ = '"';
    for (size_t i = 0; i < nl; i++) {
        if (name[i] == '"' || name[i] == '\\')
            *m++ = '\\';
        *m++ = name[i];
    }
    *m++ = '"';
    *m = '\0';
    r = 0;
out:
    curl_free(path);
    curl_free(decoded);
    curl_free(base);
    curl_url_cleanup(u);
    return r;
}

int imap_create(struct email *e, struct imap **out)
{
    struct imap *im = calloc(1, sizeof *im);
    if (!im)
        return -ENOMEM;
    im->e = e;
    int r = parse_url(im, e->imap_url);
    if (r < 0) {
        e->host->log(e->src, KANAL_LOG_ERR, "imap_url = '%s': not a usable IMAP URL", e->imap_url);
        imap_free(im);
        return r == -ENOMEM ? r : KANAL_ECONFIG;
    }
    im->easy = curl_easy_init();
    if (!im->easy) {
        imap_free(im);
        return -ENOMEM;
    }
    CURL *c = im->easy;
    if (e->imap_user)
        curl_easy_setopt(c, CURLOPT_USERNAME, e->imap_user);
    if (e->imap_password)
        curl_easy_setopt(c, CURLOPT_PASSWORD, e->imap_password);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, im);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, im->errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)TRANSFER_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    /* The previous poll's connection is not reused: let it go soon. */
    curl_easy_setopt(c, CURLOPT_MAXAGE_CONN, 30L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "imap,imaps");
    email_curl_tls(e, c, e->imap_url);
    *out = im;
    return 0;
}

int imap_start(struct imap *im)
{
    char buf[64];
    size_t len = sizeof buf - 1;
    if (im->e->host->state_get(im->e->src, "imap", buf, &len) == 0) {
        buf[len] = '\0';
        unsigned long v = 0, u = 0;
        if (sscanf(buf, "%lu %lu", &v, &u) == 2) {
            im->validity = (uint32_t)v;
            im->last_uid = (uint32_t)u;
        }
        im->e->host->log(im->e->src, KANAL_LOG_INFO,
                         "imap: resuming %s after UID %" PRIu32 " (UIDVALIDITY %" PRIu32 ")",
                         im->path, im->last_uid, im->validity);
    }
    schedule(im, 0);
    return 0;
}

void imap_stop(struct imap *im)
{
    im->stopping = 1;
    if (im->timer)
        im->e->host->timer_stop(im->timer);
    im->timer = NULL;
}

void imap_free(struct imap *im)
{
    drop_batch(im);
    if (im->easy)
        curl_easy_cleanup(im->easy);
    free(im->base);
    free(im->path);
    free(im->mailbox);
    free(im->uids);
    free(im->resp);
    free(im);
}
