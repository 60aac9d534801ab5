/* SPDX-License-Identifier: Apache-2.0 */
/* The facebook plugin's parts: facebook.c (options, webhook envelope),
 * fb_messaging.c (Messenger and Instagram messaging events), fb_feed.c (Page
 * feed, Page mentions, Instagram comments), fb_send.c (the Send API). */
#ifndef KANAL_PLUGINS_FB_H
#define KANAL_PLUGINS_FB_H

#include "meta.h"

struct facebook {
    struct meta meta;
    const char *page_id;    /* for sends; inbound takes the page from each entry */
    const char *page_token; /* page access token */
    char ig_account[64];    /* the Instagram account last seen in webhooks, or "" */
};

/* The entry of a webhook POST being read. */
struct fb_entry {
    int instagram;       /* object "instagram" */
    const char *channel; /* "facebook" or "instagram" */
    char id[260];        /* entry.id: the page, or the Instagram account */
    int64_t time_ms;     /* entry.time, or now */
};

/* The customer's handle: ig:<id>, or fb:<page>/<psid> for Messenger. */
void fb_customer_handle(const struct fb_entry *e, const char *user_id, char *out, size_t len);
/* The brand party: the page (fbpage:<id>) or the Instagram account (ig:<id>). */
json_t *fb_brand_party(const struct fb_entry *e, const char *name);

/* One event of entry[].messaging[] (or standby[]). */
void fb_messaging_event(struct facebook *fb, struct meta_batch *b, const struct fb_entry *e,
                        json_t *ev, int standby);
/* One change of entry[].changes[]. */
void fb_change(struct facebook *fb, struct meta_batch *b, const struct fb_entry *e, json_t *change);

/*
 * The outbound messages of a conversation not yet covered by a read
 * receipt, kept in the state entry "out:<handle>" as [[mid, unix_ms], ...]:
 * add one to the list text cur (may be NULL); returns the new text.
 */
char *fb_outlist_add(const char *cur, const char *mid, int64_t unix_ms);

int fb_send(void *state, const struct kanal_send_request *msg);

#endif
