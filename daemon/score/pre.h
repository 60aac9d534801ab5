/* SPDX-License-Identifier: Apache-2.0 */
/* What a scoring run reads of a record before its people are resolved
 * (build.c's score_rec_resolve does that): from the parsed record
 * (score_pre_read), or from its text without building a json_t
 * (score_pre_scan: the second pass reads a million records, and building
 * each one's values was most of its reading).  Both give the same answer
 * for every text jsonin_parse accepts, and score_pre_scan refuses what it
 * refuses (tests/fuzz/fuzz_prescan.c holds them to that). */
#ifndef KANAL_SCORE_PRE_H
#define KANAL_SCORE_PRE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Memory for the strings and parties of many records, given back all at
 * once: blocks that never move, so what a record points to stays. */
struct score_pool {
    struct pool_block *blocks;
    char *p, *end;
};

void *score_pool_alloc(struct score_pool *pool, size_t n);
/* Everything allocated is given back (one block is kept for the next). */
void score_pool_reset(struct score_pool *pool);
void score_pool_free(struct score_pool *pool);

/* A party addressed or mentioned: its handle, or the brand. */
struct score_pre_party {
    const char *handle; /* NULL: none, or not a string */
    uint8_t brand;      /* its role is "brand" */
};

struct score_pre {
    uint8_t ok; /* an object with a kind */
    uint8_t kind, erased, bot, by_brand, peer_dir, has_at;
    uint8_t rated, positive, negative, complaint;
    uint8_t has_from, from_brand;
    int64_t at;
    uint64_t self, reply, event;
    const char *kind_name, *source, *channel, *campaign, *event_id;
    const char *cid, *from_handle;
    /* Every element of "to" and of "mentions" (one that is not an object
     * is a party with neither handle nor brand). */
    const struct score_pre_party *to, *mentions;
    size_t nto, nment;
};

/* rec's fields (pointers into rec, and into pool for the parties). */
void score_pre_read(struct score_pre *pre, json_t *rec, struct score_pool *pool);
/* The same from the record's text, what it points to copied into pool:
 * 0, or -1 when text is not JSON (jsonin_parse refuses it). */
int score_pre_scan(struct score_pre *pre, const char *text, size_t len, struct score_pool *pool);

/* A digest of source \0 external_id (or of "" \0 an event id), never 0. */
uint64_t score_pre_digest(const char *source, const char *xid);

#endif
