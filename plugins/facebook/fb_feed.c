/* SPDX-License-Identifier: Apache-2.0 */
/* Changes (entry[].changes[]): the Page feed, Page mentions and Instagram
 * comments.
 *
 * Page feed (field "feed"): value.item comment, post/status/photo/video,
 * reaction/like, share; value.verb add, edited, remove, hide.  The thread is
 * the post.  The external id is <comment_id or post_id>:<item>:<verb>:
 * <from.id>:<created_time>, so each change is one record and a redelivery
 * is recognised.  The page's own comments and posts are outbound.
 *
 * The triangle's third side: a comment (or reaction) answering another
 * customer's comment is "peer", from the one customer to the other.  Webhooks
 * do not say who wrote the comment answered, so the author of every post and
 * comment seen is kept in the state entry "author:<id>"; when the answered
 * comment was never seen, the record stays inbound (to the brand). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fb.h"

/* Who wrote post or comment id: {"id","name","brand"}, or NULL. */
static json_t *author_of(struct meta_batch *b, const char *id)
{
    char key[300];
    snprintf(key, sizeof key, "author:%s", id);
    char *v = meta_batch_get_state(b, key);
    json_t *a = v ? json_loads(v, 0, NULL) : NULL;
    free(v);
    if (a && !json_is_object(a)) {
        json_decref(a);
        a = NULL;
    }
    return a;
}

static void remember_author(struct meta_batch *b, const char *id, const char *user_id,
                            const char *name, int brand)
{
    char key[300];
    snprintf(key, sizeof key, "author:%s", id);
    if (!user_id) {
        meta_batch_set_state(b, key, NULL);
        return;
    }
    json_t *a = json_pack("{s:s,s:s*,s:b}", "id", user_id, "name", name, "brand", brand);
    char *text = json_dumps(a, JSON_COMPACT);
    meta_batch_set_state(b, key, text);
    free(text);
    json_decref(a);
}

static void user_handle(const struct fb_entry *e, const char *id, char *out, size_t len)
{
    snprintf(out, len, "%s:%s", e->instagram ? "ig" : "fbuser", id);
}

/* Direction and addressees of something by from_id answering target (a post
 * or comment id, or NULL), set on rec.  Peer when the answered content is
 * another customer's. */
static void address(struct meta_batch *b, const struct fb_entry *e, json_t *rec,
                    const char *from_id, int from_brand, const char *target, int peer_allowed)
{
    json_t *author = target ? author_of(b, target) : NULL;
    const char *aid = json_string_value(json_object_get(author, "id"));
    const char *aname = json_string_value(json_object_get(author, "name"));
    int abrand = json_is_true(json_object_get(author, "brand"));
    char handle[300];
    json_t *to = json_array();
    const char *direction;
    if (from_brand) {
        direction = "outbound";
        if (aid && !abrand) {
            user_handle(e, aid, handle, sizeof handle);
            json_array_append_new(to, meta_party(handle, aname, "customer", NULL, NULL));
        }
    } else if (peer_allowed && aid && !abrand && strcmp(aid, from_id) != 0) {
        direction = "peer";
        user_handle(e, aid, handle, sizeof handle);
        json_array_append_new(to, meta_party(handle, aname, "customer", NULL, NULL));
    } else {
        direction = "inbound";
        json_array_append_new(to, fb_brand_party(e, NULL));
    }
    json_object_set_new(rec, "direction", json_string(direction));
    json_object_set_new(rec, "to", to);
    json_decref(author);
}

static const char *feed_kind(const char *item, int has_target)
{
    static const char *const posts[] = {"post", "status", "photo", "video", "note", "album"};
    if (strcmp(item, "comment") == 0)
        return "comment";
    for (size_t i = 0; i < sizeof posts / sizeof posts[0]; i++)
        if (strcmp(item, posts[i]) == 0)
            return "post";
    if (strcmp(item, "reaction") == 0)
        return "reaction";
    if (strcmp(item, "like") == 0)
        return has_target ? "reaction" : "follow"; /* a like of the page itself */
    if (strcmp(item, "share") == 0)
        return "share";
    return NULL;
}

static void copy_member(json_t *to, json_t *from, const char *key)
{
    json_t *v = json_object_get(from, key);
    if (v && !json_is_null(v))
        json_object_set(to, key, v);
}

static void feed_change(struct meta_batch *b, const struct fb_entry *e, json_t *value)
{
    const char *item = meta_str(value, "item");
    const char *verb = meta_str(value, "verb");
    json_t *fromj = json_object_get(value, "from");
    char from_id[260], post_id[260], comment_id[260], parent_id[260], created[64];
    const char *fid = meta_id(fromj, "id", from_id, sizeof from_id);
    const char *pid = meta_id(value, "post_id", post_id, sizeof post_id);
    const char *cid = meta_id(value, "comment_id", comment_id, sizeof comment_id);
    const char *parent = meta_id(value, "parent_id", parent_id, sizeof parent_id);
    const char *ctime = meta_id(value, "created_time", created, sizeof created);
    if (!verb)
        verb = "add";
    const char *kind = item ? feed_kind(item, pid || cid) : NULL;
    if (!kind || !fid) {
        meta_batch_unknown(b, e->channel, value,
                           !kind ? "feed change of an item kanal does not read"
                                 : "feed change without from.id");
        return;
    }
    const char *object = cid ? cid : pid ? pid : e->id;
    char ext[1200];
    snprintf(ext, sizeof ext, "%s:%s:%.20s:%s:%s", object, item, verb, fid, ctime ? ctime : "");
    int64_t at = meta_time_ms(value, "created_time");
    char when[32], handle[300];
    meta_time_text(b->m, at >= 0 ? at : e->time_ms, when);
    int brand = strcmp(fid, e->id) == 0;
    const char *name = meta_str(fromj, "name");
    json_t *from;
    if (brand) {
        from = fb_brand_party(e, name);
    } else {
        user_handle(e, fid, handle, sizeof handle);
        from = meta_party(handle, name, "customer", NULL, NULL);
    }
    if (strcmp(kind, "follow") == 0 && strcmp(verb, "remove") == 0)
        kind = "unfollow";
    json_t *rec = json_pack("{s:s,s:s,s:s,s:s,s:o,s:{s:s,s:s}}", "kind", kind, "channel",
                            e->channel, "external_id", ext, "occurred_at", when, "from", from,
                            "meta", "item", item, "verb", verb);
    json_t *meta = json_object_get(rec, "meta");
    if (pid) {
        json_object_set_new(rec, "thread", json_string(pid));
        json_object_set_new(meta, "post_id", json_string(pid));
    }
    if (cid)
        json_object_set_new(meta, "comment_id", json_string(cid));
    if (parent)
        json_object_set_new(meta, "parent_id", json_string(parent));
    static const char *const extras[] = {"reaction_type", "share_id", "link",    "published",
                                         "is_hidden",     "photo_id", "video_id"};
    for (size_t i = 0; i < sizeof extras / sizeof extras[0]; i++)
        copy_member(meta, value, extras[i]);
    const char *text = meta_str(value, "message");
    if (text)
        json_object_set_new(rec, "text", json_string(text));
    json_t *att = json_array();
    const char *photo = meta_str(value, "photo");
    const char *video = meta_str(value, "video");
    if (photo)
        json_array_append_new(att, json_pack("{s:s,s:s}", "type", "image", "url", photo));
    if (video)
        json_array_append_new(att, json_pack("{s:s,s:s}", "type", "video", "url", video));
    json_object_set_new(rec, "attachments", att);

    /* What it answers: a comment its parent (the post for a top-level one),
     * a reaction the comment or post reacted to. */
    const char *target = NULL;
    int is_comment = strcmp(kind, "comment") == 0, is_reaction = strcmp(kind, "reaction") == 0;
    if (is_comment)
        target = parent ? parent : pid;
    else if (is_reaction)
        target = cid ? cid : pid;
    if (target)
        json_object_set_new(rec, "reply_to", json_string(target));
    /* Posts, shares and page likes address the brand; only answers to
     * someone's content can be peer. */
    address(b, e, rec, fid, brand, target, is_comment || is_reaction);
    if (is_comment || strcmp(kind, "post") == 0) {
        const char *own = is_comment ? cid : pid;
        if (own && strcmp(verb, "add") == 0)
            remember_author(b, own, fid, name, brand);
        else if (own && strcmp(verb, "remove") == 0)
            remember_author(b, own, NULL, NULL, 0);
    }
    meta_batch_add(b, rec, value);
}

/* Page mentions (field "mention"): the shape varies between
 * sender_id/sender_name and sender{id,name}; accept both (and from{}). */
static void mention_change(struct meta_batch *b, const struct fb_entry *e, json_t *value)
{
    char sid[260], pid_buf[260], cid_buf[260], created[64], handle[300], ext[1200], when[32];
    json_t *sender = json_object_get(value, "sender");
    if (!json_is_object(sender))
        sender = json_object_get(value, "from");
    const char *id = meta_id(value, "sender_id", sid, sizeof sid);
    if (!id)
        id = meta_id(sender, "id", sid, sizeof sid);
    const char *name = meta_str(value, "sender_name");
    if (!name)
        name = meta_str(sender, "name");
    const char *pid = meta_id(value, "post_id", pid_buf, sizeof pid_buf);
    const char *cid = meta_id(value, "comment_id", cid_buf, sizeof cid_buf);
    const char *ctime = meta_id(value, "created_time", created, sizeof created);
    const char *item = meta_str(value, "item");
    const char *verb = meta_str(value, "verb");
    if (!id || (!pid && !cid)) {
        meta_batch_unknown(b, e->channel, value, "mention without sender or post");
        return;
    }
    snprintf(ext, sizeof ext, "%s:mention:%.20s:%s:%s", cid ? cid : pid, verb ? verb : "add", id,
             ctime ? ctime : "");
    int64_t at = meta_time_ms(value, "created_time");
    meta_time_text(b->m, at >= 0 ? at : e->time_ms, when);
    user_handle(e, id, handle, sizeof handle);
    json_t *rec =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:[o],s:{s:s*,s:s*}}", "kind", "mention", "direction",
                  "inbound", "channel", e->channel, "external_id", ext, "occurred_at", when, "from",
                  meta_party(handle, name, "customer", NULL, NULL), "to", fb_brand_party(e, NULL),
                  "meta", "item", item, "verb", verb);
    json_t *meta = json_object_get(rec, "meta");
    if (pid) {
        json_object_set_new(rec, "thread", json_string(pid));
        json_object_set_new(meta, "post_id", json_string(pid));
    }
    if (cid)
        json_object_set_new(meta, "comment_id", json_string(cid));
    const char *text = meta_str(value, "message");
    if (text)
        json_object_set_new(rec, "text", json_string(text));
    meta_batch_add(b, rec, value);
}

/* Instagram comments (field "comments", "live_comments"): value {id, text,
 * from{id, username}, media{id, media_product_type}, parent_id?}. */
static void ig_comment(struct meta_batch *b, const struct fb_entry *e, json_t *value,
                       const char *field)
{
    char id_buf[260], from_buf[260], media_buf[260], parent_buf[260], handle[300], when[32];
    json_t *fromj = json_object_get(value, "from");
    json_t *media = json_object_get(value, "media");
    const char *id = meta_id(value, "id", id_buf, sizeof id_buf);
    const char *fid = meta_id(fromj, "id", from_buf, sizeof from_buf);
    const char *mid = meta_id(media, "id", media_buf, sizeof media_buf);
    const char *parent = meta_id(value, "parent_id", parent_buf, sizeof parent_buf);
    if (!id || !fid) {
        meta_batch_unknown(b, e->channel, value, "instagram comment without id or from.id");
        return;
    }
    const char *username = meta_str(fromj, "username");
    int brand = strcmp(fid, e->id) == 0;
    json_t *from;
    if (brand) {
        from = fb_brand_party(e, username);
    } else {
        user_handle(e, fid, handle, sizeof handle);
        from = meta_party(handle, username, "customer", NULL, NULL);
    }
    meta_time_text(b->m, e->time_ms, when);
    json_t *rec = json_pack("{s:s,s:s,s:s,s:s,s:o,s:{s:s,s:s}}", "kind", "comment", "channel",
                            e->channel, "external_id", id, "occurred_at", when, "from", from,
                            "meta", "field", field, "comment_id", id);
    json_t *meta = json_object_get(rec, "meta");
    const char *text = meta_str(value, "text");
    if (text)
        json_object_set_new(rec, "text", json_string(text));
    if (mid) {
        json_object_set_new(rec, "thread", json_string(mid));
        json_object_set_new(meta, "media_id", json_string(mid));
        copy_member(meta, media, "media_product_type");
    }
    if (parent)
        json_object_set_new(meta, "parent_id", json_string(parent));
    const char *target = parent ? parent : mid;
    if (target)
        json_object_set_new(rec, "reply_to", json_string(target));
    address(b, e, rec, fid, brand, parent, 1);
    remember_author(b, id, fid, username, brand);
    meta_batch_add(b, rec, value);
}

void fb_change(struct facebook *fb, struct meta_batch *b, const struct fb_entry *e, json_t *change)
{
    (void)fb;
    const char *field = meta_str(change, "field");
    json_t *value = json_object_get(change, "value");
    if (!field || !json_is_object(value)) {
        meta_batch_unknown(b, e->channel, change, "change without field or value");
        return;
    }
    if (!e->instagram && strcmp(field, "feed") == 0) {
        const char *item = meta_str(value, "item");
        if (item && strcmp(item, "mention") == 0)
            mention_change(b, e, value);
        else
            feed_change(b, e, value);
    } else if (!e->instagram && strcmp(field, "mention") == 0) {
        mention_change(b, e, value);
    } else if (e->instagram &&
               (strcmp(field, "comments") == 0 || strcmp(field, "live_comments") == 0)) {
        ig_comment(b, e, value, field);
    } else {
        char why[160];
        snprintf(why, sizeof why, "%s webhook field '%.60s' is not read by kanal", e->channel,
                 field);
        meta_batch_unknown(b, e->channel, change, why);
    }
}
