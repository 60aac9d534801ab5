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
#include "pre.h"
#include "score_rec.h"
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

/* The people of a run: each current contact met gets a number (a pid),
 * the same in every audience, so that a record's people are resolved once
 * and each audience's builder finds them by number, not by text.  A
 * builder fed JSON alone has its own. */
#define SCORE_PID_NONE UINT32_MAX        /* unknown, erased, or no one */
#define SCORE_PID_BRAND (UINT32_MAX - 1) /* a party in the brand's role */

struct score_people {
    struct score_resolver res;
    /* pid -> current contact id; the text lives in the map */
    const char **names;
    uint32_t n, cap;
    /* the CRM's value and currency per pid, once read (score_crm_values) */
    double *monetary;
    char (*currency)[4];
    /* private: current id -> pid; and, when caching (a run reads one
     * snapshot's contacts once), contact id and handle -> pid */
    struct score_map *ids, *by_cid, *by_handle;
    /* private: the records a reply may answer (score_rec.ord), kept once
     * for every audience of the run rather than once per audience: the
     * digest of source \0 external_id -> the latest such record's number;
     * each one's author (a pid, PID_BRAND for the brand's) and the number
     * of the one before it with the same digest (PID_NONE: none).  Each
     * builder marks which of them it was fed. */
    struct score_digests *recs;
    uint32_t *rec_author, *rec_prev;
    uint32_t nrecs, reccap;
};

/* cache: remember each contact id's and handle's answer (a run does, for
 * both its passes: a contact is resolved once, in the snapshot of the
 * chunk that first meets it, and that answer holds for the rest of the
 * run; a builder fed alone asks its resolver each time). */
void score_people_init(struct score_people *p, const struct score_resolver *res, int cache);
void score_people_free(struct score_people *p);
/* Done resolving: free the caches (the names and CRM values stay). */
void score_people_done(struct score_people *p);
/* The pid of a current contact id (added when new), SCORE_PID_NONE for
 * NULL or "". */
uint32_t score_people_intern(struct score_people *p, const char *cur);
/* The pid of the contact a contact id stands for now (merges followed by
 * the resolver), SCORE_PID_NONE when unknown or erased. */
uint32_t score_people_contact(struct score_people *p, const char *cid);

/* Read rec (a stored record) into r, resolving its people through p.
 * r's arrays are reused from one call to the next, and pool (reset here:
 * the parties read) too. */
void score_rec_read(struct score_rec *r, json_t *rec, struct score_people *p,
                    struct score_pool *pool);

/* score_rec_read in two steps: what needs no people (pre.h: on any
 * thread), then the people resolved in the order a builder meets them. */
void score_rec_resolve(struct score_rec *r, const struct score_pre *pre, struct score_people *p);
void score_rec_free(struct score_rec *r);

struct score_build {
    int64_t now_ms, half_life_ms; /* half_life_ms 0: no decay */
    struct score_resolver res;
    /* Nodes: [0] is the brand ("brand"), then contacts in the order met.
     * The ids are the people's (b->people's names). */
    char **ids;
    uint32_t nnodes, cap;
    uint8_t *member; /* 1 for a node that authored a record of the audience */
    uint32_t *pid;   /* each node's pid */
    /* The edges as fed; once score_build_graph has made them the graph
     * (graphed), they are freed and raw_edges says how many there were. */
    struct score_edges edges;
    struct score_graph graph;
    int graphed;
    size_t raw_edges;
    /* What was fed, so that each score can say what it was made from. */
    size_t records, bots, erased, unresolved_replies, unknown_authors;
    /* What each contact did beyond the graph (value.h), and the
     * thresholds its scores are judged by (defaults; the caller may set
     * them after init). */
    struct score_facts facts;
    struct score_params params;
    /* The people nodes are numbered from: the builder's own, or a run's
     * (score_build_init_people) that outlives it. */
    struct score_people *people;
    int own_people;
    /* private: pid -> node; a bit per record a reply may answer
     * (score_rec.ord): set when it was fed to this audience */
    struct score_nodes *nodes;
    uint64_t *fed;
    size_t fedlen;            /* words */
    struct score_rec scratch; /* score_build_add's */
    struct score_pool pool;   /* and what it reads into */
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
/* As score_build_init, with the people of a run (not freed with b). */
void score_build_init_people(struct score_build *b, int64_t now_ms, int64_t half_life_ms,
                             struct score_people *people);
/* Feed one record read by score_rec_read with b's people: 0, or -EINVAL
 * as score_build_add. */
int score_build_add_rec(struct score_build *b, const struct score_rec *r);
/* score_build_note of a record read by score_rec_read. */
void score_build_note_rec(struct score_build *b, const struct score_rec *r);
void score_build_free(struct score_build *b);
/* Done feeding b: free what only feeding needs (the maps; the edge arrays'
 * spare room) before its scores are made.  b may not be fed again. */
void score_build_trim(struct score_build *b);

/* Done feeding b (after score_build_trim): make its edges the graph its
 * scores are made of (score_graph_build), and free the edges as fed, so
 * that an audience waiting to be made holds its merged edges alone.  0,
 * or score_graph_build's error (b then keeps its edges). */
int score_build_graph(struct score_build *b);

/* The decay factor of an interaction age_ms old: 2^(-age / half_life), 1
 * for no decay or an age below 0 (a clock ahead of ours). */
double score_decay(int64_t age_ms, int64_t half_life_ms);

#endif
