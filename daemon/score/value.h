/* SPDX-License-Identifier: Apache-2.0 */
/* What each contact did in an audience, beyond the graph: the facts its
 * value, advocacy, risk and position are made of (docs/scores.md).  The
 * builder (build.h) feeds every record of the audience here with its
 * author's node; records outside the audience are noted only for the
 * brand's answers (an answer in another slice still answers).  Pure: the
 * CRM's value of each contact is filled in by the caller (collect.c reads
 * it from the contacts in the same snapshot). */
#ifndef KANAL_SCORE_VALUE_H
#define KANAL_SCORE_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The brand's node, as the builder numbers it (build.h's SCORE_BRAND). */
#define SCORE_FACTS_BRAND 0u

/* The thresholds, the [kanald] score_* keys (docs/configuration.md);
 * percentages are whole percents. */
struct score_params {
    int64_t unanswered_ms;  /* score_unanswered_after: a complaint waits longer: risk */
    int64_t risk_window_ms; /* score_risk_window: how recent a complaint counts */
    int64_t risk_min;       /* score_risk_min: unanswered ones that make at_risk */
    int64_t advocate_min;   /* score_advocate_min: positive mentions + helpful replies */
    int64_t
        advocate_max_negative;   /* score_advocate_max_negative: % negative an advocate may have */
    int64_t key_influence;       /* score_key_influence: % of the average influence for key */
    int64_t critic_min;          /* score_critic_min: negative or complaint records */
    int64_t critic_share;        /* score_critic_share: % of its rated records negative */
    int64_t polarized_cross;     /* score_polarized_cross: % of the camps' weight across them */
    int64_t polarized_sentiment; /* score_polarized_sentiment: |mean sentiment| % of a camp */
    int64_t cohesive_star;       /* score_cohesive_star: % of customers next to the top one */
    int64_t cohesive_brand;      /* score_cohesive_brand: % of the weight to or from the brand */
    int64_t polarized_camps; /* score_polarized_camps: % of the grouped customers in the camps */
    int64_t critic_echoes;   /* score_critic_echoes: others' records taking up its complaints */
};

/* The defaults, as the [kanald] table has them. */
void score_params_default(struct score_params *p);

struct score_event {
    uint32_t node;
    uint64_t event;
};

/* A negative or complaint record: who, when, in which order, answered. */
struct score_pending {
    uint32_t node;
    int64_t at;
    uint64_t order, key; /* key: hash of source \0 external_id; 0: none */
    int answered;
};

struct score_slot {
    uint64_t key;
    uint32_t at;
    int used;
};

/* Per node (the builder's node numbers), grown as nodes are added. */
struct score_facts {
    uint32_t cap;
    int64_t *last_in; /* ms of the last inbound record; INT64_MIN: none */
    /* The counts, 16 bits each; private: read them through value.c (one of
     * 65535 or more is kept whole in the spill). */
    uint16_t *records; /* records authored in the audience */
    uint16_t *clicks;  /* link clicks (suspected bots are left out before) */
    uint16_t *signups; /* sign-up and check-in records */
    uint16_t *rated;   /* records with annotations.sentiment */
    uint16_t *positive, *negative, *complaints; /* label positive, negative; complaint true */
    uint16_t *unhappy;                          /* negative or complaint (one record counts once) */
    uint16_t *helpful;  /* answers to other customers, not negative, no complaint */
    uint16_t *praise;   /* positive records that are no such answer: mentions of the brand */
    uint16_t *echoes;   /* others' records answering its negative or complaint records */
    uint64_t *last_out; /* order of the last outbound record to the node; 0: none */
    double *monetary;   /* the CRM's value; 0 when none */
    char (*currency)[4];
    /* (node, event id hash) of sign-ups: distinct per node at the end */
    struct score_event *ev;
    size_t nev, evcap;
    /* Negative or complaint records, found again by their key. */
    struct score_pending *pend;
    size_t npend, pendcap;
    struct score_slot *index;
    size_t nindexed, indexcap;
    uint64_t order; /* records fed or noted so far */
    /* private: the counts of 65535 or more, by which count and node */
    uint64_t *spill_keys;
    uint32_t *spill_vals;
    size_t nspilled, spillcap;
};

void score_facts_init(struct score_facts *f);
void score_facts_free(struct score_facts *f);
/* Make room for nodes [0, n). */
void score_facts_grow(struct score_facts *f, uint32_t n);
/* Give back the room past nodes [0, n) (the arrays grew by doubling). */
void score_facts_trim(struct score_facts *f, uint32_t n);
/* A count of node v: SCORE_COUNT(f, records, v) for f->records[v] (which
 * may say only that it is kept whole elsewhere). */
uint32_t score_facts_count(const struct score_facts *f, size_t which, uint32_t v);
#define SCORE_COUNT(f, a, v) score_facts_count(f, offsetof(struct score_facts, a), v)

struct score_rec; /* score_rec.h: a record as read once */

/* One record of the audience by author (a node, SCORE_BRAND for the
 * brand's), at at_ms; answered is the node its reply_to resolved to
 * (UINT32_MAX: none), peer the customer it was addressed to when it
 * answers nothing (UINT32_MAX: none). */
void score_facts_add(struct score_facts *f, const struct score_rec *rec, uint32_t author,
                     uint32_t answered, uint32_t peer, int64_t at_ms);
/* An outbound record outside the audience, or inside it: to is the node of
 * the customer it went to (UINT32_MAX: none in this audience). */
void score_facts_answer(struct score_facts *f, const struct score_rec *rec, uint32_t to);

/* The value, advocacy and risk objects and the position of node v, whose
 * influence is given, among n rows: filled by score_facts_finish. */
struct score_rows {
    uint8_t *r, *fq, *m;
    uint32_t *events;
    uint32_t *unanswered;
    double *oldest_h;
};
/* Compute quintiles and counts for nodes 1..n-1 (0 is the brand). */
void score_facts_finish(struct score_facts *f, uint32_t n, int64_t now_ms,
                        const struct score_params *p, struct score_rows *out);
void score_rows_free(struct score_rows *r);

/* The JSON objects of node v. */
json_t *score_value_json(const struct score_facts *f, const struct score_rows *r, uint32_t v);
json_t *score_advocacy_json(const struct score_facts *f, const struct score_params *p, uint32_t v);
json_t *score_risk_json(const struct score_facts *f, const struct score_rows *r,
                        const struct score_params *p, uint32_t v);
/* "key", "ordinary" or "critic" (which wins over key: its cause needs
 * fixing whoever says it): a critic complains much and mostly, or others
 * take up what it complains of. */
const char *score_position(const struct score_facts *f, const struct score_params *p, uint32_t v,
                           double influence);

/* Quintiles 1-5 of x[0..n) into q: 1 + floor(5 * (values below x[i]) / n),
 * so that equal values share one quintile. */
void score_quintiles(const double *x, size_t n, uint8_t *q);

/* 1 when code is an ISO 4217 currency code in use. */
int score_currency_ok(const char *code);

#endif
