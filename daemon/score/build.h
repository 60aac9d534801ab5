/* SPDX-License-Identifier: Apache-2.0 */
/* From records to an audience's interaction graph (graph.h).  The caller
 * feeds the audience's records in seq order; each becomes edges between
 * contacts and the brand:
 *   - a record answering another (reply_to, also reactions and shares):
 *     its author -> the answered record's author, when that record was
 *     fed before (same source, its external_id);
 *   - otherwise a message, comment, post or mention: author -> each party
 *     addressed (to), the brand for a brand party (peer messages are
 *     customer -> customer this way);
 *   - every record: author -> each party mentioned.
 * A record's author is the brand for outbound records and brand parties,
 * else its contact (record.contact, or from's handle resolved), merged
 * contacts followed to the one they were merged into.  Each edge weighs
 * 2^(-age / half_life), age from occurred_at to now.  Left out: records
 * meta.suspected_bot marks (scanner clicks) and erased ones (meta.erased),
 * and parties whose contact is unknown or erased.  Pure: the store is
 * reached only through the resolver the caller gives. */
#ifndef KANAL_SCORE_BUILD_H
#define KANAL_SCORE_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "graph.h"
#include "value.h"

/* How the builder finds contacts.  Both return a string that stays valid
 * until the next call, or NULL. */
struct score_resolver {
    /* The contact a contact id stands for now: itself, or the contact it
     * was merged into (followed to the end); NULL when it is unknown or
     * erased. */
    const char *(*current)(void *arg, const char *cid);
    /* The contact of a normalized handle, or NULL. */
    const char *(*of_handle)(void *arg, const char *handle);
    void *arg;
};

/* The brand's node. */
#define SCORE_BRAND 0u

struct score_build {
    int64_t now_ms, half_life_ms; /* half_life_ms 0: no decay */
    struct score_resolver res;
    /* Nodes: [0] is the brand ("brand"), then contacts in the order met. */
    char **ids;
    uint32_t nnodes, cap;
    uint8_t *member; /* 1 for a node that authored a record of the audience */
    struct score_edges edges;
    /* What was fed, so that each score can say what it was made from. */
    size_t records, bots, erased, unresolved_replies, unknown_authors;
    /* What each contact did beyond the graph (value.h), and the
     * thresholds its scores are judged by (defaults; the caller may set
     * them after init). */
    struct score_facts facts;
    struct score_params params;
    /* private: contact id -> node; a digest of source \0 external_id ->
     * author node */
    struct score_map *nodes_by_id;
    struct score_digests *authors;
};

void score_build_init(struct score_build *b, int64_t now_ms, int64_t half_life_ms,
                      const struct score_resolver *res);
/* Feed one record of the audience: 0, or -EINVAL when rec is not an
 * object with a kind. */
int score_build_add(struct score_build *b, json_t *rec);
/* Note a record outside the audience: only the brand's answers count
 * (an answer given elsewhere still answers a complaint in the audience). */
void score_build_note(struct score_build *b, json_t *rec);
/* Whether rec is the brand's (outbound, or from a party in the brand's
 * role): only those are worth noting outside the audience. */
int score_build_by_brand(json_t *rec);
void score_build_free(struct score_build *b);
/* Done feeding b: free what only feeding needs (the maps; the edge arrays'
 * spare room) before its scores are made.  b may not be fed again. */
void score_build_trim(struct score_build *b);

/* The decay factor of an interaction age_ms old: 2^(-age / half_life), 1
 * for no decay or an age below 0 (a clock ahead of ours). */
double score_decay(int64_t age_ms, int64_t half_life_ms);

#endif
