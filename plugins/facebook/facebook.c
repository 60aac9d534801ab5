/* SPDX-License-Identifier: Apache-2.0 */
/* facebook: Messenger, the Page feed and Instagram (messaging and comments)
 * through one Meta app's webhooks; sends through the Messenger Send API.
 *
 *   GET  /hooks/<source>?hub.mode=subscribe&hub.verify_token=..&hub.challenge=..
 *        -> 200 with the challenge, or 403
 *   POST /hooks/<source> signed X-Hub-Signature-256 (app secret, raw body)
 *        object "page":      entry[].messaging[] (Messenger), entry[].changes[]
 *                            (field "feed", "mention")
 *        object "instagram": entry[].messaging[], entry[].changes[] ("comments")
 *        -> every update of the POST in one commit, then 200 {"seqs":[...]};
 *           an update nobody understands is kept as kind "unknown"
 *        -> 401 for a missing or wrong signature, nothing stored
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kanal/kit.h>

#include "fb.h"

void fb_customer_handle(const struct fb_entry *e, const char *user_id, char *out, size_t len)
{
    if (e->instagram)
        snprintf(out, len, "ig:%s", user_id);
    else
        snprintf(out, len, "fb:%s/%s", e->id, user_id);
}

json_t *fb_brand_party(const struct fb_entry *e, const char *name)
{
    char handle[300];
    snprintf(handle, sizeof handle, "%s:%s", e->instagram ? "ig" : "fbpage", e->id);
    return meta_party(handle, name, "brand", NULL, NULL);
}

/* Remember the Instagram account the page answers for: sends name it as the
 * brand party of their outbound records. */
static void note_ig_account(struct facebook *fb, struct meta_batch *b, const char *id)
{
    size_t n = strlen(id);
    if (strcmp(fb->ig_account, id) == 0 || n >= sizeof fb->ig_account)
        return;
    memcpy(fb->ig_account, id, n + 1);
    meta_batch_set_state(b, "ig_account", id);
}

static void read_entry(struct facebook *fb, struct meta_batch *b, int instagram, json_t *entry)
{
    struct fb_entry e = {.instagram = instagram, .channel = instagram ? "instagram" : "facebook"};
    if (!meta_id(entry, "id", e.id, sizeof e.id)) {
        meta_batch_unknown(b, e.channel, entry, "webhook entry without an id");
        return;
    }
    e.time_ms = meta_time_ms(entry, "time");
    if (e.time_ms < 0)
        e.time_ms = fb->meta.host->now_ms();
    if (instagram)
        note_ig_account(fb, b, e.id);
    json_t *messaging = json_object_get(entry, "messaging");
    json_t *standby = json_object_get(entry, "standby");
    json_t *changes = json_object_get(entry, "changes");
    if (!json_is_array(messaging) && !json_is_array(standby) && !json_is_array(changes)) {
        meta_batch_unknown(b, e.channel, entry, "webhook entry without messaging or changes");
        return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(messaging, i, item) fb_messaging_event(fb, b, &e, item, 0);
    /* Standby: the thread belongs to another app (handover protocol); the
     * conversation still happened. */
    json_array_foreach(standby, i, item) fb_messaging_event(fb, b, &e, item, 1);
    json_array_foreach(changes, i, item) fb_change(fb, b, &e, item);
}

static int fb_http(void *state, struct kanal_http_request *req)
{
    struct facebook *fb = state;
    if (meta_http_gate(&fb->meta, req))
        return 0;
    struct meta_batch b;
    meta_batch_init(&b, &fb->meta, req);
    json_t *root = json_loadb(req->body, req->body_len, 0, NULL);
    const char *object = meta_str(root, "object");
    json_t *entries = json_object_get(root, "entry");
    int page = object && strcmp(object, "page") == 0;
    int instagram = object && strcmp(object, "instagram") == 0;
    if (!root) {
        meta_batch_unknown(&b, "facebook", NULL, "the body is not JSON");
    } else if ((!page && !instagram) || !json_is_array(entries)) {
        meta_batch_unknown(&b, instagram ? "instagram" : "facebook", root,
                           "not a page or instagram webhook with entries");
    } else {
        size_t i;
        json_t *entry;
        json_array_foreach(entries, i, entry) read_entry(fb, &b, instagram, entry);
    }
    json_decref(root);
    meta_batch_commit(&b);
    return 0;
}

static const struct kanal_kit_bind fb_binds[] = {
    {"page_id", KANAL_KIT_STR, offsetof(struct facebook, page_id)},
    {"page_access_token", KANAL_KIT_STR, offsetof(struct facebook, page_token)},
    {NULL, 0, 0},
};

static int fb_init(const struct kanal_host *host, struct kanal_source *src, void **state)
{
    struct facebook *fb = calloc(1, sizeof *fb);
    if (!fb)
        return -ENOMEM;
    int r = meta_init(&fb->meta, host, src, "facebook");
    if (r == 0)
        r = kanal_kit_bind_options(host, src, fb_binds, fb);
    if (r < 0) {
        meta_destroy(&fb->meta);
        free(fb);
        return r;
    }
    if (fb->page_id && !meta_digits(fb->page_id)) {
        host->log(src, KANAL_LOG_ERR, "page_id '%s' is not a numeric page id", fb->page_id);
        meta_destroy(&fb->meta);
        free(fb);
        return KANAL_ECONFIG;
    }
    *state = fb;
    return 0;
}

static int fb_start(void *state)
{
    struct facebook *fb = state;
    char *ig = meta_state_get(&fb->meta, "ig_account");
    if (ig && strlen(ig) < sizeof fb->ig_account)
        memcpy(fb->ig_account, ig, strlen(ig) + 1);
    free(ig);
    if (!fb->page_id || !fb->page_token)
        fb->meta.host->log(fb->meta.src, KANAL_LOG_INFO,
                           "no page_id and page_access_token: receiving only, not sending");
    return 0;
}

static int fb_stop(void *state)
{
    (void)state;
    return 0;
}

static void fb_destroy(void *state)
{
    struct facebook *fb = state;
    meta_destroy(&fb->meta);
    free(fb);
}

static const struct kanal_option fb_options[] = {
    META_COMMON_OPTIONS,
    {"page_id", KANAL_OPT_STRING, NULL, 0, "the Facebook page that sends (numeric id)", NULL},
    {"page_access_token", KANAL_OPT_SECRET, NULL, 0,
     "the page's access token (pages_messaging) for the Send API", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static const struct kanal_plugin fb_plugin = {
    KANAL_PLUGIN_HEADER,
    .name = "facebook",
    .version = "1.0.0",
    .description = "Facebook Messenger, Page feed and Instagram via Meta webhooks and the Send API",
    .options = fb_options,
    .init = fb_init,
    .start = fb_start,
    .stop = fb_stop,
    .destroy = fb_destroy,
    .http = fb_http,
    .send = fb_send,
};

KANAL_PLUGIN_EXPORT const struct kanal_plugin *kanal_plugin_entry(void)
{
    return &fb_plugin;
}
