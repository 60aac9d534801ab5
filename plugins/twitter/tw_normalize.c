/* SPDX-License-Identifier: Apache-2.0 */
/* X payloads to interaction records, from the brand's point of view.
 *
 * Tweets come in two shapes, the v1.1 objects of Account Activity webhooks
 * and the API v2 objects that polling reads.  Both are first read into one
 * struct tw_tweet, and one function classifies and builds the record, so a
 * tweet seen both ways gets the same external_id and kind (and kanal's
 * idempotency key recognises it in mode = both):
 *
 *   retweet                      kind share
 *   reply                        kind comment
 *   brand's top-level tweet      kind post
 *   other top-level tweet/quote  kind mention when it names the brand, else post
 *
 * Direction: the brand's own tweets are outbound.  A reply is classified by
 * the tweet it answers: inbound when that tweet is the brand's, peer when it
 * is another user's (even when the reply carries the brand's @handle, as
 * replies in a thread do by themselves).  A top-level tweet, a quote or a
 * reply to one's own tweet is inbound when it names the brand (an
 * @mention, or quoting the brand's tweet), else peer.  A retweet is inbound
 * when it shares the brand's tweet, else peer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "twitter.h"

#define MAX_MENTIONS 50

struct tw_user {
    const char *id;
    const char *screen;
    const char *name;
};

/* A tweet, whichever API it came from.  Strings are borrowed from the JSON. */
struct tw_tweet {
    const char *id;
    struct tw_user author;
    const char *text;
    const char *created; /* RFC 3339 (v2), or NULL */
    int64_t created_ms;  /* unix ms (v1.1), or -1 */
    const char *conversation;
    const char *reply_to;
    struct tw_user reply_user;
    const char *retweet_of;
    struct tw_user retweet_user;
    const char *quote_of;
    struct tw_user quote_user;
    struct tw_user mentions[MAX_MENTIONS];
    size_t nmentions;
    json_t *attachments; /* owned */
    const char *lang;
};

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? s : NULL;
}

/* A numeric id or timestamp that X sends as a string or a number. */
static const char *jid(json_t *o, const char *key, char *buf, size_t len)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v)) {
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    return jstr(o, key);
}

static int eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* ---- times ---- */

static int64_t parse_ms(const char *s)
{
    if (!s)
        return -1;
    char *end;
    long long v = strtoll(s, &end, 10);
    return *s && !*end && v > 0 ? (int64_t)v : -1;
}

/* v1.1's "Wed Oct 10 20:19:24 +0000 2018". */
static int64_t parse_v1_time(const char *s)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char mon[4];
    int day, h, m, sec, year, off;
    if (!s || sscanf(s, "%*3s %3s %d %d:%d:%d %d %d", mon, &day, &h, &m, &sec, &off, &year) != 7)
        return -1;
    const char *p = strstr(months, mon);
    if (!p || (p - months) % 3 != 0 || strlen(mon) != 3)
        return -1;
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = (int)((p - months) / 3),
                    .tm_mday = day,
                    .tm_hour = h,
                    .tm_min = m,
                    .tm_sec = sec};
    int64_t t = (int64_t)timegm(&tm);
    int offset_min = (off / 100) * 60 + (off % 100);
    return (t - (int64_t)offset_min * 60) * 1000;
}

/* occurred_at from X's milliseconds or v2's RFC 3339 text.  A time kanal
 * cannot write (after 9999) is left out, so the record takes the receipt
 * time, and kept as sent in meta.original_time: the tweet is not lost, nor
 * turned with its whole page into one unknown record. */
static void set_time(struct twitter *tw, json_t *rec, const char *iso, int64_t ms)
{
    char buf[32];
    if (ms > 0 && tw->host->format_time(ms, buf, sizeof buf) == 0) {
        json_object_set_new(rec, "occurred_at", json_string(buf));
        return;
    }
    if (iso && strlen(iso) > 4 && strspn(iso, "0123456789") == 4 && iso[4] == '-') {
        json_object_set_new(rec, "occurred_at", json_string(iso));
        return;
    }
    json_t *orig = iso ? json_string(iso) : ms > 0 ? json_integer((json_int_t)ms) : NULL;
    if (!orig)
        return;
    json_t *meta = json_object_get(rec, "meta");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(rec, "meta", meta);
    }
    json_object_set_new(meta, "original_time", orig);
    tw->host->log(tw->src, KANAL_LOG_WARNING,
                  "a time X sent cannot be represented; stored with the receipt time and the "
                  "value in meta.original_time");
}

/* ---- parties ---- */

static json_t *party(struct twitter *tw, const struct tw_user *u)
{
    char h[64], name[128];
    json_t *p = json_pack("{s:s,s:s}", "handle", tw_handle(u->id, h, sizeof h), "role",
                          eq(u->id, tw->user_id) ? "brand" : "customer");
    if (u->name)
        json_object_set_new(p, "name", json_string(u->name));
    else if (u->screen && snprintf(name, sizeof name, "@%s", u->screen) > 0)
        json_object_set_new(p, "name", json_string(name));
    return p;
}

static void add_party(struct twitter *tw, json_t *list, json_t *screens, const struct tw_user *u)
{
    if (!u->id)
        return;
    char h[64];
    tw_handle(u->id, h, sizeof h);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        if (eq(json_string_value(json_object_get(e, "handle")), h))
            return;
    }
    json_array_append_new(list, party(tw, u));
    if (u->screen && screens)
        json_object_set_new(screens, u->id, json_string(u->screen));
}

/* Fill a user's missing names from the tweet's mentions. */
static void complete_user(struct tw_tweet *t, struct tw_user *u)
{
    for (size_t i = 0; u->id && i < t->nmentions; i++)
        if (eq(t->mentions[i].id, u->id)) {
            if (!u->screen)
                u->screen = t->mentions[i].screen;
            if (!u->name)
                u->name = t->mentions[i].name;
        }
}

static void add_mention(struct tw_tweet *t, const char *id, const char *screen, const char *name)
{
    if (!id || t->nmentions >= MAX_MENTIONS)
        return;
    for (size_t i = 0; i < t->nmentions; i++)
        if (eq(t->mentions[i].id, id))
            return;
    t->mentions[t->nmentions++] = (struct tw_user){id, screen, name};
}

static json_t *attachment(const char *type, const char *url)
{
    if (!type)
        return NULL;
    const char *t = strcmp(type, "photo") == 0                                        ? "image"
                    : strcmp(type, "video") == 0 || strcmp(type, "animated_gif") == 0 ? "video"
                                                                                      : type;
    json_t *a = json_pack("{s:s}", "type", t);
    if (url)
        json_object_set_new(a, "url", json_string(url));
    return a;
}

/* ---- the one classification ---- */

static json_t *tweet_record(struct twitter *tw, struct tw_tweet *t)
{
    const char *brand = tw->user_id;
    int by_brand = eq(t->author.id, brand);
    int names_brand = eq(t->quote_user.id, brand);
    for (size_t i = 0; i < t->nmentions; i++)
        names_brand |= eq(t->mentions[i].id, brand);
    complete_user(t, &t->reply_user);
    complete_user(t, &t->quote_user);
    complete_user(t, &t->retweet_user);

    const char *kind, *dir;
    const struct tw_user *target = NULL;
    if (t->retweet_of) {
        kind = "share";
        target = &t->retweet_user;
        dir = by_brand ? "outbound" : eq(t->retweet_user.id, brand) ? "inbound" : "peer";
    } else if (t->reply_to && t->reply_user.id && !eq(t->reply_user.id, t->author.id)) {
        kind = "comment";
        target = &t->reply_user;
        dir = by_brand ? "outbound" : eq(t->reply_user.id, brand) ? "inbound" : "peer";
    } else {
        /* Top-level, a quote, or a reply continuing one's own thread. */
        kind = t->reply_to ? "comment" : (by_brand || !names_brand) ? "post" : "mention";
        if (t->quote_of)
            target = &t->quote_user;
        dir = by_brand ? "outbound" : names_brand ? "inbound" : "peer";
    }

    json_t *rec = json_pack("{s:s,s:s,s:s,s:o}", "kind", kind, "direction", dir, "external_id",
                            t->id, "from", party(tw, &t->author));
    json_t *screens = json_object();
    if (t->author.screen)
        json_object_set_new(screens, t->author.id, json_string(t->author.screen));
    json_t *to = json_array();
    if (target && target->id && !eq(target->id, t->author.id))
        add_party(tw, to, screens, target);
    if (strcmp(dir, "inbound") == 0) {
        struct tw_user b = {brand, NULL, NULL};
        for (size_t i = 0; i < t->nmentions; i++)
            if (eq(t->mentions[i].id, brand))
                b = t->mentions[i];
        add_party(tw, to, screens, &b);
    }
    json_object_set_new(rec, "to", to);
    /* Everyone named, the brand included: the edges scoring needs. */
    json_t *mentions = json_array();
    for (size_t i = 0; i < t->nmentions; i++)
        if (!eq(t->mentions[i].id, t->author.id))
            add_party(tw, mentions, screens, &t->mentions[i]);
    json_object_set_new(rec, "mentions", mentions);

    const char *thread = t->conversation;
    if (!thread)
        thread = t->reply_to ? tw_conv_lookup(tw, t->reply_to) : t->id;
    if (thread) {
        json_object_set_new(rec, "thread", json_string(thread));
        tw_conv_remember(tw, t->id, thread);
    }
    if (t->reply_to)
        json_object_set_new(rec, "reply_to", json_string(t->reply_to));
    if (t->text)
        json_object_set_new(rec, "text", json_string(t->text));
    if (t->attachments && json_array_size(t->attachments))
        json_object_set(rec, "attachments", t->attachments);
    json_t *meta = json_pack("{s:o}", "screen_names", screens);
    if (t->quote_of)
        json_object_set_new(meta, "quote_of", json_string(t->quote_of));
    if (t->retweet_of)
        json_object_set_new(meta, "retweet_of", json_string(t->retweet_of));
    if (t->lang)
        json_object_set_new(meta, "lang", json_string(t->lang));
    json_object_set_new(rec, "meta", meta);
    set_time(tw, rec, t->created, t->created_ms);
    return rec;
}

/* ---- v1.1 (Account Activity) tweets ---- */

static void v1_user(json_t *u, struct tw_user *out)
{
    out->id = jstr(u, "id_str");
    out->screen = jstr(u, "screen_name");
    out->name = jstr(u, "name");
}

static void v1_tweet(json_t *o, struct tw_tweet *t)
{
    memset(t, 0, sizeof *t);
    t->id = jstr(o, "id_str");
    v1_user(json_object_get(o, "user"), &t->author);
    json_t *ext = json_object_get(o, "extended_tweet");
    t->text = jstr(ext, "full_text");
    if (!t->text)
        t->text = jstr(o, "full_text");
    if (!t->text)
        t->text = jstr(o, "text");
    char buf[32];
    t->created_ms = parse_ms(jid(o, "timestamp_ms", buf, sizeof buf));
    if (t->created_ms < 0)
        t->created_ms = parse_v1_time(jstr(o, "created_at"));
    t->conversation = jstr(o, "conversation_id_str");
    if (!t->conversation)
        t->conversation = jstr(o, "conversation_id");
    t->lang = jstr(o, "lang");
    json_t *rt = json_object_get(o, "retweeted_status");
    if (json_is_object(rt)) {
        t->retweet_of = jstr(rt, "id_str");
        v1_user(json_object_get(rt, "user"), &t->retweet_user);
    } else {
        t->reply_to = jstr(o, "in_reply_to_status_id_str");
        t->reply_user.id = jstr(o, "in_reply_to_user_id_str");
        t->reply_user.screen = jstr(o, "in_reply_to_screen_name");
        json_t *qs = json_object_get(o, "quoted_status");
        t->quote_of = jstr(o, "quoted_status_id_str");
        if (json_is_object(qs)) {
            if (!t->quote_of)
                t->quote_of = jstr(qs, "id_str");
            v1_user(json_object_get(qs, "user"), &t->quote_user);
        }
    }
    json_t *ents = json_object_get(ext ? ext : o, "entities");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(ents, "user_mentions"), i, m)
        add_mention(t, jstr(m, "id_str"), jstr(m, "screen_name"), jstr(m, "name"));
    json_t *media = json_object_get(json_object_get(ext ? ext : o, "extended_entities"), "media");
    if (!json_is_array(media))
        media = json_object_get(ents, "media");
    t->attachments = json_array();
    json_array_foreach(media, i, m)
    {
        json_t *a = attachment(jstr(m, "type"), jstr(m, "media_url_https"));
        if (a)
            json_array_append_new(t->attachments, a);
    }
}

/* ---- v2 (polling) tweets ---- */

static json_t *find_by(json_t *list, const char *key, const char *value)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        if (eq(jstr(e, key), value))
            return e;
    }
    return NULL;
}

static void v2_user(json_t *includes, const char *id, struct tw_user *out)
{
    json_t *u = find_by(json_object_get(includes, "users"), "id", id);
    *out = (struct tw_user){id, jstr(u, "username"), jstr(u, "name")};
}

static const char *v2_author_of(json_t *includes, const char *tweet_id)
{
    return jstr(find_by(json_object_get(includes, "tweets"), "id", tweet_id), "author_id");
}

json_t *tw_v2_tweet_record(struct twitter *tw, json_t *o, json_t *includes)
{
    struct tw_tweet t;
    memset(&t, 0, sizeof t);
    t.created_ms = -1;
    t.id = jstr(o, "id");
    v2_user(includes, jstr(o, "author_id"), &t.author);
    if (!t.id || !t.author.id)
        return NULL;
    t.text = jstr(json_object_get(o, "note_tweet"), "text");
    if (!t.text)
        t.text = jstr(o, "text");
    t.created = jstr(o, "created_at");
    t.conversation = jstr(o, "conversation_id");
    t.lang = jstr(o, "lang");
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(o, "referenced_tweets"), i, r)
    {
        const char *type = jstr(r, "type"), *id = jstr(r, "id");
        if (eq(type, "retweeted")) {
            t.retweet_of = id;
            v2_user(includes, v2_author_of(includes, id), &t.retweet_user);
        } else if (eq(type, "replied_to")) {
            t.reply_to = id;
        } else if (eq(type, "quoted")) {
            t.quote_of = id;
            v2_user(includes, v2_author_of(includes, id), &t.quote_user);
        }
    }
    if (t.retweet_of) {
        t.reply_to = NULL;
        t.quote_of = NULL;
        memset(&t.quote_user, 0, sizeof t.quote_user);
    } else if (t.reply_to) {
        const char *uid = jstr(o, "in_reply_to_user_id");
        v2_user(includes, uid ? uid : v2_author_of(includes, t.reply_to), &t.reply_user);
    }
    json_t *m;
    json_array_foreach(json_object_get(json_object_get(o, "entities"), "mentions"), i, m)
    {
        const char *username = jstr(m, "username");
        json_t *u = find_by(json_object_get(includes, "users"), "username", username);
        const char *id = jstr(m, "id");
        add_mention(&t, id ? id : jstr(u, "id"), username, jstr(u, "name"));
    }
    t.attachments = json_array();
    json_array_foreach(json_object_get(json_object_get(o, "attachments"), "media_keys"), i, m)
    {
        json_t *media =
            find_by(json_object_get(includes, "media"), "media_key", json_string_value(m));
        const char *url = jstr(media, "url");
        json_t *a = attachment(jstr(media, "type"), url ? url : jstr(media, "preview_image_url"));
        if (a)
            json_array_append_new(t.attachments, a);
    }
    json_t *rec = tweet_record(tw, &t);
    json_decref(t.attachments);
    return rec;
}

/* ---- Account Activity events ---- */

static json_t *tweet_event(struct twitter *tw, json_t *o)
{
    struct tw_tweet t;
    v1_tweet(o, &t);
    json_t *rec = t.id && t.author.id ? tweet_record(tw, &t) : NULL;
    json_decref(t.attachments);
    return rec;
}

static const char *direction_between(struct twitter *tw, const char *actor, const char *target)
{
    return eq(actor, tw->user_id) ? "outbound" : eq(target, tw->user_id) ? "inbound" : "peer";
}

/* Someone liked a tweet: the brand's (inbound) or liked by the brand (outbound). */
static json_t *favorite_event(struct twitter *tw, json_t *o)
{
    const char *id = jstr(o, "id");
    struct tw_user user;
    v1_user(json_object_get(o, "user"), &user);
    struct tw_tweet liked;
    v1_tweet(json_object_get(o, "favorited_status"), &liked);
    json_decref(liked.attachments);
    if (!id || !user.id || !liked.id)
        return NULL;
    json_t *screens = json_object();
    if (user.screen)
        json_object_set_new(screens, user.id, json_string(user.screen));
    json_t *to = json_array();
    add_party(tw, to, screens, &liked.author);
    json_t *rec = json_pack("{s:s,s:s,s:s,s:o,s:o,s:s,s:{s:s,s:o}}", "kind", "reaction",
                            "direction", direction_between(tw, user.id, liked.author.id),
                            "external_id", id, "from", party(tw, &user), "to", to, "reply_to",
                            liked.id, "meta", "reaction", "like", "screen_names", screens);
    const char *thread = liked.conversation ? liked.conversation : tw_conv_lookup(tw, liked.id);
    if (!thread && !liked.reply_to)
        thread = liked.id;
    if (thread)
        json_object_set_new(rec, "thread", json_string(thread));
    char buf[32];
    int64_t ms = parse_ms(jid(o, "timestamp_ms", buf, sizeof buf));
    set_time(tw, rec, NULL, ms > 0 ? ms : parse_v1_time(jstr(o, "created_at")));
    return rec;
}

static json_t *follow_event(struct twitter *tw, json_t *o)
{
    const char *type = jstr(o, "type");
    char sbuf[32], tbuf[32], cbuf[32], ext[128];
    json_t *so = json_object_get(o, "source"), *to_ = json_object_get(o, "target");
    struct tw_user s = {jid(so, "id", sbuf, sizeof sbuf), jstr(so, "screen_name"),
                        jstr(so, "name")};
    struct tw_user t = {jid(to_, "id", tbuf, sizeof tbuf), jstr(to_, "screen_name"),
                        jstr(to_, "name")};
    const char *created = jid(o, "created_timestamp", cbuf, sizeof cbuf);
    if (!s.id || !t.id || !created || !(eq(type, "follow") || eq(type, "unfollow")))
        return NULL;
    snprintf(ext, sizeof ext, "%s-%s-%s", s.id, t.id, created);
    json_t *screens = json_object();
    if (s.screen)
        json_object_set_new(screens, s.id, json_string(s.screen));
    json_t *to = json_array();
    add_party(tw, to, screens, &t);
    json_t *rec = json_pack("{s:s,s:s,s:s,s:o,s:o,s:{s:o}}", "kind", type, "direction",
                            direction_between(tw, s.id, t.id), "external_id", ext, "from",
                            party(tw, &s), "to", to, "meta", "screen_names", screens);
    set_time(tw, rec, NULL, parse_ms(created));
    return rec;
}

void tw_dm_conversation(const char *a, const char *b, char *out, size_t len)
{
    /* Numeric order: the shorter id is the smaller one. */
    size_t la = strlen(a), lb = strlen(b);
    int a_first = la < lb || (la == lb && strcmp(a, b) <= 0);
    snprintf(out, len, "%s-%s", a_first ? a : b, a_first ? b : a);
}

static struct tw_user dm_user(json_t *users, const char *id)
{
    json_t *u = json_object_get(users, id ? id : "");
    return (struct tw_user){id, jstr(u, "screen_name"), jstr(u, "name")};
}

static json_t *dm_event(struct twitter *tw, json_t *o, json_t *users)
{
    json_t *mc = json_object_get(o, "message_create");
    char ibuf[32], cbuf[32], sbuf[32], rbuf[32], conv[80];
    const char *id = jid(o, "id", ibuf, sizeof ibuf);
    const char *created = jid(o, "created_timestamp", cbuf, sizeof cbuf);
    struct tw_user sender = dm_user(users, jid(mc, "sender_id", sbuf, sizeof sbuf));
    struct tw_user recipient =
        dm_user(users, jid(json_object_get(mc, "target"), "recipient_id", rbuf, sizeof rbuf));
    if (!eq(jstr(o, "type"), "message_create") || !id || !sender.id || !recipient.id)
        return NULL;
    tw_dm_conversation(sender.id, recipient.id, conv, sizeof conv);
    json_t *screens = json_object();
    if (sender.screen)
        json_object_set_new(screens, sender.id, json_string(sender.screen));
    json_t *to = json_array();
    add_party(tw, to, screens, &recipient);
    json_t *data = json_object_get(mc, "message_data");
    json_t *rec =
        json_pack("{s:s,s:s,s:s,s:o,s:o,s:s,s:{s:o}}", "kind", "message", "direction",
                  direction_between(tw, sender.id, recipient.id), "external_id", id, "from",
                  party(tw, &sender), "to", to, "thread", conv, "meta", "screen_names", screens);
    const char *text = jstr(data, "text");
    if (text)
        json_object_set_new(rec, "text", json_string(text));
    json_t *media = json_object_get(json_object_get(data, "attachment"), "media");
    json_t *a = json_is_object(media)
                    ? attachment(jstr(media, "type"), jstr(media, "media_url_https"))
                    : NULL;
    if (a)
        json_object_set_new(rec, "attachments", json_pack("[o]", a));
    set_time(tw, rec, NULL, parse_ms(created));
    return rec;
}

/* The reader marked the conversation read up to last_read_event_id. */
static json_t *read_event(struct twitter *tw, json_t *o, json_t *users)
{
    char sbuf[32], rbuf[32], lbuf[32], cbuf[32], ext[96], conv[80];
    struct tw_user reader = dm_user(users, jid(o, "sender_id", sbuf, sizeof sbuf));
    struct tw_user other =
        dm_user(users, jid(json_object_get(o, "target"), "recipient_id", rbuf, sizeof rbuf));
    const char *last = jid(o, "last_read_event_id", lbuf, sizeof lbuf);
    if (!reader.id || !other.id || !last)
        return NULL;
    snprintf(ext, sizeof ext, "%s-%s", reader.id, last);
    tw_dm_conversation(reader.id, other.id, conv, sizeof conv);
    json_t *to = json_array();
    add_party(tw, to, NULL, &other);
    json_t *rec =
        json_pack("{s:s,s:s,s:s,s:o,s:o,s:s,s:s,s:s}", "kind", "read", "direction",
                  direction_between(tw, reader.id, other.id), "external_id", ext, "from",
                  party(tw, &reader), "to", to, "thread", conv, "reply_to", last, "status", "read");
    set_time(tw, rec, NULL, parse_ms(jid(o, "created_timestamp", cbuf, sizeof cbuf)));
    return rec;
}

json_t *tw_activity_records(struct twitter *tw, json_t *payload)
{
    json_t *out = json_array();
    char fbuf[32];
    const char *for_user = jid(payload, "for_user_id", fbuf, sizeof fbuf);
    if (for_user && !eq(for_user, tw->user_id)) {
        tw->host->log(tw->src, KANAL_LOG_WARNING,
                      "webhook for user %s, but this source's user_id is %s: kept as unknown",
                      for_user, tw->user_id);
        json_array_append_new(out, tw_unknown_record(tw, payload, "payload",
                                                     "for_user_id is not this source's user_id"));
        return out;
    }
    json_t *users = json_object_get(payload, "users");
    const char *key;
    json_t *events;
    int any_events = 0;
    json_object_foreach(payload, key, events)
    {
        size_t klen = strlen(key);
        if (!json_is_array(events) || klen < 7 || strcmp(key + klen - 7, "_events") != 0)
            continue;
        any_events = 1;
        /* Typing indicators are not interactions; nothing to keep. */
        if (strcmp(key, "direct_message_indicate_typing_events") == 0)
            continue;
        size_t i;
        json_t *ev;
        json_array_foreach(events, i, ev)
        {
            json_t *rec = NULL;
            if (strcmp(key, "tweet_create_events") == 0)
                rec = tweet_event(tw, ev);
            else if (strcmp(key, "favorite_events") == 0)
                rec = favorite_event(tw, ev);
            else if (strcmp(key, "follow_events") == 0)
                rec = follow_event(tw, ev);
            else if (strcmp(key, "direct_message_events") == 0)
                rec = dm_event(tw, ev, users);
            else if (strcmp(key, "direct_message_mark_read_events") == 0)
                rec = read_event(tw, ev, users);
            if (!rec) {
                char what[64];
                snprintf(what, sizeof what, "%.*s", (int)(klen - 7), key);
                rec = tw_unknown_record(tw, ev, what, "event kanal does not normalize");
            }
            if (rec)
                json_array_append_new(out, rec);
        }
    }
    /* An authentic payload with no list of events at all is no shape kanal
     * knows (typing indicators and empty lists are, and store nothing):
     * kept whole, not acknowledged with nothing stored. */
    if (!any_events)
        json_array_append_new(out, tw_unknown_record(tw, payload, "payload",
                                                     "payload without a list of *_events"));
    return out;
}
