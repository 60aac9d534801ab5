/* SPDX-License-Identifier: Apache-2.0 */
/* The keys of the 'scores' database (keep.h says the layout): an
 * audience's summary is its id, and every other key of the audience starts
 * with its id and a NUL, which no id has; so an audience's keys are one
 * range, and the next audience's summary is at or after id "\x01". */
#ifndef KANAL_SCORE_KEEPKEY_H
#define KANAL_SCORE_KEEPKEY_H

#include <stdint.h>
#include <string.h>

#include <lmdb.h>

#include "keep.h"

/* The longest audience or contact id a key holds: two of them, three
 * separators and a rank stay within LMDB's 511 bytes. */
#define SCORE_KEY_ID_MAX 250

struct score_key {
    MDB_val val;
    char buf[2 * SCORE_KEY_ID_MAX + 16];
};

static inline void score_key_u32(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}

static inline uint32_t score_key_get_u32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

/* id, then NUL, tag and NUL ("r" rows, "p" ranks): the key's length. */
static inline size_t score_key_start(struct score_key *k, const char *id, char tag)
{
    size_t n = strlen(id);
    memcpy(k->buf, id, n);
    k->buf[n] = '\0';
    k->buf[n + 1] = tag;
    k->buf[n + 2] = '\0';
    return n + 3;
}

/* AUD \0 r \0 CONTACT */
static inline void score_key_row(struct score_key *k, const char *id, const char *cid)
{
    size_t n = score_key_start(k, id, 'r'), c = strlen(cid);
    memcpy(k->buf + n, cid, c);
    k->val = (MDB_val){n + c, k->buf};
}

/* AUD \0 TAG \0 ORDER \0 N: an order's key of either layout. */
static inline void score_key_order(struct score_key *k, const char *id, char tag,
                                   enum score_order o, uint32_t n)
{
    size_t at = score_key_start(k, id, tag);
    const char *name = score_order_name(o);
    size_t c = strlen(name);
    memcpy(k->buf + at, name, c + 1);
    score_key_u32(k->buf + at + c + 1, n);
    k->val = (MDB_val){at + c + 5, k->buf};
}

/* AUD \0 p \0 ORDER \0 PART: the ranks PART * SCORE_RANKS_PER_KEY and on
 * of the order. */
static inline void score_key_ranks(struct score_key *k, const char *id, enum score_order o,
                                   uint32_t part)
{
    score_key_order(k, id, 'p', o, part);
}

/* AUD \0 o \0 ORDER \0 RANK: the older layout, a key per rank (the
 * contact id its value), read until the audience's next run replaces it. */
static inline void score_key_rank_v1(struct score_key *k, const char *id, enum score_order o,
                                     uint32_t rank)
{
    score_key_order(k, id, 'o', o, rank);
}

/* The rank-th entry of the value of a ranks key (contact ids, each ended
 * by a NUL; an erased contact's an empty one): *len its length and its
 * offset, or NULL when the value has fewer entries. */
static inline const char *score_ranks_entry(const MDB_val *v, uint32_t rank, size_t *len)
{
    const char *p = v->mv_data, *end = p + v->mv_size;
    for (uint32_t i = 0; p < end; i++) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        if (!nul)
            return NULL;
        if (i == rank) {
            *len = (size_t)(nul - p);
            return p;
        }
        p = nul + 1;
    }
    return NULL;
}

/* Delete every key of audience id, its summary included: 0, or an MDB
 * error. */
int score_key_del_audience(struct store *st, MDB_txn *txn, const char *id);

#endif
