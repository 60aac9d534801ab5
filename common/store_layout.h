/* SPDX-License-Identifier: Apache-2.0 */
/* The store's layout on disk, in one place: the LMDB environment's sizes,
 * the format version, the named databases and their flags, the meta keys,
 * and how keys and values are encoded.  kanald writes this layout
 * (daemon/store.c, contacts.c, erase.c...), libkanal reads it
 * (sdk/reader/reader.c) and kanalctl checks it (tools/kanalctl/); all
 * three include this header, so a change here reaches every one of them.
 *
 * Internal: not installed and not part of libkanal's API.  A consumer
 * reads records through kanal/reader.h, which hides the layout; what is
 * described here is free to change with the format version.
 * docs/architecture.md ("Store layout") describes it in prose. */
#ifndef KANAL_STORE_LAYOUT_H
#define KANAL_STORE_LAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lmdb.h>

/* The format version kanald writes and migrates older stores to; stored
 * as decimal text under the meta key "version".  A store without one is
 * format 0 (written before versions were recorded). */
#define KANAL_STORE_FORMAT 1

/* The environment's sizes.  LMDB sizes the reader table by the first
 * process that opens the environment, so every opener uses the same. */
#define KANAL_STORE_MAX_DBS 16
#define KANAL_STORE_MAX_READERS 256
#define KANAL_STORE_FILE_MODE 0640
/* LMDB's largest key (its default build). */
#define KANAL_STORE_MAX_KEY 511

/* X(ID, name, flags): the named databases, keys -> values.
 *   log        seq (uint64, native order) -> the record's JSON
 *   idem       source \0 kind \0 external_id -> seq (uint64)
 *   state      source \0 key -> a plugin's state value
 *   meta       name -> value (the KANAL_META_* keys)
 *   handles    handle -> contact id \0 provenance JSON
 *   contacts   contact id -> the contact's JSON
 *   outbox     number (uint64) -> a pending message's id
 *   messages   message id -> the message's state JSON
 *   msgkeys    idempotency key of POST /v1/messages -> number
 *   timeline   contact id \0 seq (big-endian) -> empty
 *   erased     SHA-256 of an erased record's idem key -> seq (uint64)
 *   links      token -> a tracking link's JSON
 *   pending    seq (uint64) -> contact ids, each ending in \0, to fold
 *              into timeline
 *   candidates "<cA>-<cB>", the lower contact number first -> a merge
 *              candidate's JSON (daemon/candidates.c)
 *   scores     audience id -> the audience's scores as JSON, with the seq
 *              of the snapshot they were computed on (daemon/score/) */
#define KANAL_STORE_DBS(X)                \
    X(LOG, "log", MDB_INTEGERKEY)         \
    X(IDEM, "idem", 0)                    \
    X(STATE, "state", 0)                  \
    X(META, "meta", 0)                    \
    X(HANDLES, "handles", 0)              \
    X(CONTACTS, "contacts", 0)            \
    X(OUTBOX, "outbox", MDB_INTEGERKEY)   \
    X(MESSAGES, "messages", 0)            \
    X(MSGKEYS, "msgkeys", 0)              \
    X(TIMELINE, "timeline", 0)            \
    X(ERASED, "erased", 0)                \
    X(LINKS, "links", 0)                  \
    X(PENDING, "pending", MDB_INTEGERKEY) \
    X(CANDIDATES, "candidates", 0)        \
    X(SCORES, "scores", 0)

#define KANAL__STORE_DB_ENUM(id, name, flags) KANAL_STORE_DB_##id,
enum kanal_store_db { KANAL_STORE_DBS(KANAL__STORE_DB_ENUM) KANAL_STORE_DB_COUNT };
#undef KANAL__STORE_DB_ENUM

struct kanal_store_db_def {
    const char *name;
    unsigned flags; /* without MDB_CREATE, which only kanald adds */
};

#define KANAL__STORE_DB_DEF(id, name, flags) [KANAL_STORE_DB_##id] = {name, flags},
static const struct kanal_store_db_def kanal_store_dbs[KANAL_STORE_DB_COUNT] = {
    KANAL_STORE_DBS(KANAL__STORE_DB_DEF)};
#undef KANAL__STORE_DB_DEF

_Static_assert(KANAL_STORE_DB_COUNT <= KANAL_STORE_MAX_DBS, "more databases than maxdbs");
_Static_assert(KANAL_STORE_DB_COUNT <= 32, "readers keep a bit per database");

/* Keys of the meta database. */
#define KANAL_META_VERSION "version"           /* format version, decimal text */
#define KANAL_META_STORE_ID "store_id"         /* 32 hex digits, made at creation */
#define KANAL_META_CREATED "created"           /* RFC 3339 time of creation */
/* uint64: a contact number no contact has yet (kanald writes it a block
 * of 64 ahead; with KANAL_META_CONTACT_FROM it is that + 64, and the next
 * contact's number is found by counting on from there over the contacts
 * that exist; else it is the next contact's number). */
#define KANAL_META_NEXT_CONTACT "next_contact"
#define KANAL_META_CONTACT_FROM "contact_from" /* uint64: the contact counter's block start */
/* uint64: every record up to this seq whose contacts go on the timeline
 * has them in 'pending' (or 'timeline'); a record after it whose one
 * contact is its "contact" member may not: the log is their journal. */
#define KANAL_META_PENDING_THROUGH "pending_through"
#define KANAL_META_NEXT_MESSAGE "next_message" /* uint64: the next message's number */
#define KANAL_META_SCRUB "scrub"               /* what the last erase scrubbed */

/* An idempotency key's external_id, when source \0 kind \0 external_id
 * would not fit in KANAL_STORE_MAX_KEY: this prefix and the SHA-256 of the
 * external_id in hex (kanald computes it; readers only split keys). */
#define KANAL_IDEM_DIGEST_PREFIX "sha256:"

/* 1 when source \0 kind \0 external_id fits in a key as it is. */
static inline int kanal_idem_key_fits(const char *source, const char *kind, const char *external_id)
{
    return strlen(source) + strlen(kind) + strlen(external_id) + 2 <= KANAL_STORE_MAX_KEY;
}

/* source \0 kind \0 id into buf: its length, or 0 when buf is too small. */
static inline size_t kanal_idem_key(char *buf, size_t buf_len, const char *source, const char *kind,
                                    const char *id)
{
    size_t a = strlen(source), b = strlen(kind), c = strlen(id);
    if (a + b + c + 2 > buf_len)
        return 0;
    memcpy(buf, source, a + 1);
    memcpy(buf + a + 1, kind, b + 1);
    memcpy(buf + a + b + 2, id, c);
    return a + b + c + 2;
}

/* The three parts of an idempotency key (each a pointer into key, the
 * last one not NUL-terminated: its length in *id_len).  0, or -1 when the
 * key does not have exactly two NULs. */
static inline int kanal_idem_key_split(const void *key, size_t len, const char *part[3],
                                       size_t *id_len)
{
    const char *p = key, *end = p + len;
    const char *nul1 = memchr(p, '\0', len);
    const char *nul2 = nul1 ? memchr(nul1 + 1, '\0', (size_t)(end - nul1 - 1)) : NULL;
    if (!nul2 || memchr(nul2 + 1, '\0', (size_t)(end - nul2 - 1)))
        return -1;
    part[0] = p;
    part[1] = nul1 + 1;
    part[2] = nul2 + 1;
    *id_len = (size_t)(end - nul2 - 1);
    return 0;
}

/* source \0 key into buf: its length, or 0 when buf is too small. */
static inline size_t kanal_state_key(char *buf, size_t buf_len, const char *source, const char *key)
{
    size_t a = strlen(source), b = strlen(key);
    if (a + b + 1 > buf_len)
        return 0;
    memcpy(buf, source, a + 1);
    memcpy(buf + a + 1, key, b);
    return a + b + 1;
}

/* A timeline key: contact id \0 seq, the seq big-endian so that a
 * contact's keys sort in seq order.  Its length, or 0 when buf is too
 * small. */
#define KANAL_TIMELINE_KEY_MAX 48
static inline size_t kanal_timeline_key(unsigned char *buf, size_t buf_len, const char *cid,
                                        uint64_t seq)
{
    size_t n = strlen(cid);
    if (n + 9 > buf_len)
        return 0;
    memcpy(buf, cid, n + 1);
    for (int i = 0; i < 8; i++)
        buf[n + 1 + i] = (unsigned char)(seq >> (56 - 8 * i));
    return n + 9;
}

/* 1 when key is a timeline key of the contact (cid_len bytes, without its
 * NUL), with its seq in *seq; else 0. */
static inline int kanal_timeline_key_of(const void *key, size_t len, const char *cid,
                                        size_t cid_len, uint64_t *seq)
{
    const unsigned char *k = key;
    if (len != cid_len + 9 || memcmp(k, cid, cid_len) != 0 || k[cid_len] != '\0')
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | k[cid_len + 1 + i];
    *seq = v;
    return 1;
}

/* The uint64 of an integer key or value (log and pending keys, idem and
 * outbox values), stored in native byte order as MDB_INTEGERKEY wants:
 * 0, or -1 when it is not 8 bytes. */
static inline int kanal_store_u64(const void *data, size_t len, uint64_t *out)
{
    if (len != sizeof *out)
        return -1;
    memcpy(out, data, sizeof *out);
    return 0;
}

/* The contact id at the start of a handles value (id \0 provenance): its
 * length, or 0 when the value has no NUL or an empty id. */
static inline size_t kanal_handle_value_cid_len(const void *value, size_t len)
{
    const char *nul = memchr(value, '\0', len);
    return nul ? (size_t)(nul - (const char *)value) : 0;
}

#endif
