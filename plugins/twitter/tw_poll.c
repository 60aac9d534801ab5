/* SPDX-License-Identifier: Apache-2.0 */
/* Polling X's API v2 with the app's bearer token: the brand's mentions
 * timeline and, when poll_query is set, a recent search.  This is the mode
 * for accounts without Account Activity access, and the backfill after an
 * outage (X drops webhook events it could not deliver within minutes).
 *
 * One poll reads each timeline from its committed since_id, page by page
 * (pagination_token), then commits all of the timeline's tweets, oldest
 * first, together with the new since_id (the first page's meta.newest_id)
 * in one transaction: after a crash the next poll starts exactly where the
 * committed records end, and a tweet read twice is recognised by its
 * idempotency key.  A 429 waits until x-rate-limit-reset, then asks again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kanal/kit.h>

#include "api_fetch.h"
#include "twitter.h"

#define TWEET_FIELDS                                                                           \
    "tweet.fields=created_at,author_id,conversation_id,in_reply_to_user_id,referenced_tweets," \
    "entities,lang,attachments,note_tweet"
#define EXPANSIONS                                                                               \
    "expansions=author_id,in_reply_to_user_id,referenced_tweets.id,referenced_tweets.id.author_" \
    "id,"                                                                                        \
    "entities.mentions.username,attachments.media_keys"
#define OTHER_FIELDS "user.fields=username,name&media.fields=type,url,preview_image_url"

/* Longest wait a 429 may impose (X's windows are 15 minutes). */
#define MAX_RATE_WAIT_MS (16 * 60 * 1000)

struct tw_timeline {
    const char *name; /* "mentions" or "search" */
    char key[32];     /* state key of its since_id */
    char since_id[TW_ID_MAX];
};

struct tw_poll {
    struct twitter *tw;
    struct kanal_timer *interval;
    struct kanal_timer *wait;
    struct tw_timeline tl[2];
    size_t ntl;
    int running;
    size_t cur;
    char newest_id[TW_ID_MAX];
    char *next_token;
    int64_t pages;
    int retried_since;
    json_t *records; /* the current timeline's, newest first */
};

static void fetch_page(struct tw_poll *p);
static void next_timeline(struct tw_poll *p);

static void end_cycle(struct tw_poll *p)
{
    p->running = 0;
    json_decref(p->records);
    p->records = NULL;
    free(p->next_token);
    p->next_token = NULL;
}

static void begin_timeline(struct tw_poll *p)
{
    p->newest_id[0] = '\0';
    free(p->next_token);
    p->next_token = NULL;
    p->pages = 0;
    p->retried_since = 0;
    json_decref(p->records);
    p->records = json_array();
    fetch_page(p);
}

static void next_timeline(struct tw_poll *p)
{
    if (++p->cur < p->ntl && !p->tw->stopping)
        begin_timeline(p);
    else
        end_cycle(p);
}

/* The timeline is stored: advance its since_id; else the next poll reads
 * it again. */
static void timeline_done(void *arg, const struct kanal_kit_result *res)
{
    struct tw_poll *p = arg;
    struct tw_timeline *tl = &p->tl[p->cur];
    if (res->outcome != KANAL_KIT_COMMITTED) {
        p->tw->host->log(p->tw->src, KANAL_LOG_WARNING,
                         "poll of %s: commit failed (%s); the next poll reads them again", tl->name,
                         p->tw->host->strerror(res->status));
        end_cycle(p);
        return;
    }
    if (p->newest_id[0])
        snprintf(tl->since_id, sizeof tl->since_id, "%s", p->newest_id);
    p->tw->host->log(p->tw->src, KANAL_LOG_DEBUG, "poll of %s: %zu tweet(s), since_id now %s",
                     tl->name, res->n, tl->since_id[0] ? tl->since_id : "-");
    next_timeline(p);
}

/* The timeline's tweets, oldest first. */
static json_t *ordered_records(struct tw_poll *p)
{
    json_t *ordered = json_array();
    for (size_t i = json_array_size(p->records); i-- > 0;)
        json_array_append(ordered, json_array_get(p->records, i));
    return ordered;
}

/* Tweets kanal mis-read (kanald refused their records): keep them whole,
 * as one unknown record, and move the cursor on all the same. */
static int build_unknown(void *arg, char **out)
{
    struct tw_poll *p = arg;
    json_t *ordered = ordered_records(p);
    json_t *one = json_pack(
        "[o]", tw_unknown_record(p->tw, ordered, "poll", "tweets kanal could not normalize"));
    *out = one ? json_dumps(one, JSON_COMPACT) : NULL;
    json_decref(one);
    json_decref(ordered);
    return *out ? 0 : -ENOMEM;
}

/* Commit the timeline's tweets, oldest first, with its new since_id. */
static void commit_timeline(struct tw_poll *p)
{
    struct twitter *tw = p->tw;
    struct tw_timeline *tl = &p->tl[p->cur];
    size_t n = json_array_size(p->records);
    if (n == 0 && !p->newest_id[0]) {
        next_timeline(p);
        return;
    }
    json_t *ordered = ordered_records(p);
    struct kanal_state_entry st = {tl->key, p->newest_id, strlen(p->newest_id)};
    size_t nst = p->newest_id[0] ? 1 : 0;
    char *text = n ? json_dumps(ordered, JSON_COMPACT) : NULL;
    json_decref(ordered);
    const struct kanal_kit_fallback fb = {
        .build = build_unknown, .build_arg = p, .states = nst ? &st : NULL, .nstates = nst};
    int r = kanal_kit_emit_then(tw->host, tw->src, text, text ? strlen(text) : 0, nst ? &st : NULL,
                                nst, &fb, timeline_done, p);
    free(text);
    if (r < 0) {
        tw->host->log(tw->src, KANAL_LOG_WARNING, "poll of %s: cannot queue the records: %s",
                      tl->name, tw->host->strerror(r));
        end_cycle(p);
    }
}

static void on_wait(void *arg)
{
    struct tw_poll *p = arg;
    p->tw->host->timer_stop(p->wait);
    p->wait = NULL;
    if (p->tw->stopping)
        end_cycle(p);
    else
        fetch_page(p);
}

static void rate_limited(struct tw_poll *p, const struct api_fetch *f)
{
    struct twitter *tw = p->tw;
    int64_t now = tw->host->now_ms();
    /* Wait into the second X names, not before it. */
    int64_t wait = f->rate_reset > 0 ? f->rate_reset * 1000 - now + 250 : tw->poll_interval_ms;
    if (wait < 0)
        wait = 0;
    if (wait > MAX_RATE_WAIT_MS)
        wait = MAX_RATE_WAIT_MS;
    tw->host->log(tw->src, KANAL_LOG_NOTICE,
                  "poll of %s: rate limited (429); asking again in %lld ms", p->tl[p->cur].name,
                  (long long)wait);
    if (tw->host->timer_start(tw->src, (uint64_t)wait, 0, on_wait, p, &p->wait) < 0)
        end_cycle(p);
}

static void add_page(struct tw_poll *p, json_t *page)
{
    json_t *meta = json_object_get(page, "meta");
    if (p->pages == 0) {
        const char *newest = json_string_value(json_object_get(meta, "newest_id"));
        if (newest && strlen(newest) < sizeof p->newest_id)
            snprintf(p->newest_id, sizeof p->newest_id, "%s", newest);
    }
    json_t *includes = json_object_get(page, "includes");
    size_t i;
    json_t *tweet;
    json_array_foreach(json_object_get(page, "data"), i, tweet)
    {
        json_t *rec = tw_v2_tweet_record(p->tw, tweet, includes);
        if (!rec)
            rec = tw_unknown_record(p->tw, tweet, "tweet", "tweet without id or author_id");
        json_array_append_new(p->records, rec);
    }
    p->pages++;
    free(p->next_token);
    const char *next = json_string_value(json_object_get(meta, "next_token"));
    p->next_token = next && *next ? strdup(next) : NULL;
}

static void on_page(void *arg, struct api_fetch *f)
{
    struct tw_poll *p = arg;
    struct twitter *tw = p->tw;
    struct tw_timeline *tl = &p->tl[p->cur];
    char why[400];
    if (tw->stopping) {
        api_fetch_free(f);
        end_cycle(p);
        return;
    }
    if (f->result == 0 && f->status == 429) {
        rate_limited(p, f);
        api_fetch_free(f);
        return;
    }
    json_t *page = f->result == 0 && f->status == 200 ? api_fetch_json(f) : NULL;
    if (!json_is_object(page)) {
        api_fetch_describe(f, why, sizeof why);
        if (f->result == 0 && f->status == 200)
            snprintf(why, sizeof why, "HTTP 200 without a JSON object");
        tw->host->log(tw->src, KANAL_LOG_WARNING, "poll of %s failed: %s", tl->name, why);
        if (f->status == 400 && tl->since_id[0] && strstr(why, "since_id") && !p->retried_since) {
            /* A since_id too old for the endpoint: start from its newest tweets. */
            tl->since_id[0] = '\0';
            p->retried_since = 1;
            api_fetch_free(f);
            json_decref(page);
            fetch_page(p);
            return;
        }
        if (f->status == 401 || f->status == 403 || f->status == 400) {
            char problem[256];
            snprintf(problem, sizeof problem, "polling %s: %.200s", tl->name, why);
            tw_set_problem(tw, 0, problem);
        }
        api_fetch_free(f);
        json_decref(page);
        end_cycle(p);
        return;
    }
    api_fetch_free(f);
    tw_set_problem(tw, 0, NULL);
    add_page(p, page);
    json_decref(page);
    if (p->next_token && p->pages < tw->poll_max_pages) {
        fetch_page(p);
        return;
    }
    if (p->next_token)
        tw->host->log(tw->src, KANAL_LOG_WARNING,
                      "poll of %s stopped after %lld pages (poll_max_pages); older tweets of this "
                      "backlog are not read",
                      tl->name, (long long)p->pages);
    commit_timeline(p);
}

static char *page_url(struct tw_poll *p)
{
    struct twitter *tw = p->tw;
    struct tw_timeline *tl = &p->tl[p->cur];
    char *query = NULL, *token = NULL, *url = NULL;
    if (strcmp(tl->name, "search") == 0 && !(query = curl_easy_escape(NULL, tw->poll_query, 0)))
        return NULL;
    if (p->next_token && !(token = curl_easy_escape(NULL, p->next_token, 0))) {
        curl_free(query);
        return NULL;
    }
    int r;
    if (query)
        r = asprintf(&url, "%s/2/tweets/search/recent?query=%s&", tw->api_url, query);
    else
        r = asprintf(&url, "%s/2/users/%s/mentions?", tw->api_url, tw->user_id);
    char *full = NULL;
    if (r >= 0 &&
        asprintf(&full,
                 "%smax_results=100&" TWEET_FIELDS "&" EXPANSIONS "&" OTHER_FIELDS "%s%s%s%s", url,
                 tl->since_id[0] ? "&since_id=" : "", tl->since_id,
                 token ? "&pagination_token=" : "", token ? token : "") < 0)
        full = NULL;
    free(url);
    curl_free(query);
    curl_free(token);
    return full;
}

static void fetch_page(struct tw_poll *p)
{
    struct twitter *tw = p->tw;
    char *url = page_url(p);
    struct api_fetch *f = url ? api_fetch_new(tw->host, tw->src, url, tw->timeout_ms) : NULL;
    free(url);
    int r = -ENOMEM;
    if (f && (r = api_fetch_bearer(f, tw->bearer_token)) == 0) {
        r = api_fetch_start(f, on_page, p);
        f = NULL; /* freed by api_fetch_start on failure */
    }
    api_fetch_free(f);
    if (r < 0) {
        tw->host->log(tw->src, KANAL_LOG_WARNING, "poll of %s: cannot start the request: %s",
                      p->tl[p->cur].name, tw->host->strerror(r));
        end_cycle(p);
    }
}

static void on_tick(void *arg)
{
    struct tw_poll *p = arg;
    if (p->running || p->tw->stopping)
        return; /* the previous poll is still paging or waiting out a 429 */
    p->running = 1;
    p->cur = 0;
    begin_timeline(p);
}

static void load_cursor(struct twitter *tw, struct tw_timeline *tl)
{
    size_t len = sizeof tl->since_id - 1;
    int r = tw->host->state_get(tw->src, tl->key, tl->since_id, &len);
    tl->since_id[r == 0 ? len : 0] = '\0';
}

int tw_poll_start(struct twitter *tw)
{
    struct tw_poll *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->tw = tw;
    tw->poll = p;
    const char *names[2] = {"mentions", tw->poll_query ? "search" : NULL};
    for (size_t i = 0; i < 2 && names[i]; i++) {
        struct tw_timeline *tl = &p->tl[p->ntl++];
        tl->name = names[i];
        snprintf(tl->key, sizeof tl->key, "%s.since_id", names[i]);
        load_cursor(tw, tl);
        tw->host->log(tw->src, KANAL_LOG_INFO, "polling %s every %lld s from since_id %s", tl->name,
                      (long long)(tw->poll_interval_ms / 1000),
                      tl->since_id[0] ? tl->since_id : "(none: newest tweets)");
    }
    return tw->host->timer_start(tw->src, 0, (uint64_t)tw->poll_interval_ms, on_tick, p,
                                 &p->interval);
}

void tw_poll_stop(struct twitter *tw)
{
    struct tw_poll *p = tw->poll;
    if (!p)
        return;
    tw->host->timer_stop(p->interval);
    p->interval = NULL;
    if (p->wait) {
        tw->host->timer_stop(p->wait);
        p->wait = NULL;
        end_cycle(p);
    }
}

void tw_poll_free(struct twitter *tw)
{
    struct tw_poll *p = tw->poll;
    if (!p)
        return;
    end_cycle(p);
    free(p);
    tw->poll = NULL;
}
