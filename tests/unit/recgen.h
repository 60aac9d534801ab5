/* SPDX-License-Identifier: Apache-2.0 */
/* Records drawn at random for the tests that hold a reader of record text
 * to jsonin's parse (test_score_peek, test_score_prescan): objects of
 * members whose keys come from a list (a few with an escape in the key),
 * values from a list of scalars, or objects and arrays of them, white
 * space between the tokens. */
#ifndef KANAL_TEST_RECGEN_H
#define KANAL_TEST_RECGEN_H

#include <stdlib.h>
#include <string.h>

struct recgen {
    const char *const *keys, *const *scalars;
    size_t nkeys, nscalars;
    int max_depth; /* containers below this depth only */
};

static const char *const recgen_ws[] = {"", "", "", " ", "\n", "\t ", "\r\n  "};

static inline void recgen_put(char *buf, size_t *at, size_t size, const char *s)
{
    size_t n = strlen(s);
    if (*at + n < size) {
        memcpy(buf + *at, s, n);
        *at += n;
        buf[*at] = 0;
    }
}

static inline void recgen_value(const struct recgen *g, unsigned *seed, char *buf, size_t *at,
                                size_t size, int depth);

static inline void recgen_object(const struct recgen *g, unsigned *seed, char *buf, size_t *at,
                                 size_t size, int depth)
{
    recgen_put(buf, at, size, "{");
    int n = rand_r(seed) % 7;
    for (int i = 0; i < n; i++) {
        if (i)
            recgen_put(buf, at, size, ",");
        recgen_put(buf, at, size, recgen_ws[rand_r(seed) % 7]);
        recgen_put(buf, at, size, "\"");
        recgen_put(buf, at, size, g->keys[(size_t)rand_r(seed) % g->nkeys]);
        recgen_put(buf, at, size, rand_r(seed) % 40 ? "\"" : "\\u0041\"");
        recgen_put(buf, at, size, recgen_ws[rand_r(seed) % 7]);
        recgen_put(buf, at, size, ":");
        recgen_put(buf, at, size, recgen_ws[rand_r(seed) % 7]);
        recgen_value(g, seed, buf, at, size, depth + 1);
        recgen_put(buf, at, size, recgen_ws[rand_r(seed) % 7]);
    }
    recgen_put(buf, at, size, "}");
}

static inline void recgen_value(const struct recgen *g, unsigned *seed, char *buf, size_t *at,
                                size_t size, int depth)
{
    int r = rand_r(seed) % 10;
    if (r < 6 || depth > g->max_depth)
        recgen_put(buf, at, size, g->scalars[(size_t)rand_r(seed) % g->nscalars]);
    else if (r < 8)
        recgen_object(g, seed, buf, at, size, depth);
    else {
        recgen_put(buf, at, size, "[");
        for (int i = rand_r(seed) % 3; i > 0; i--) {
            recgen_value(g, seed, buf, at, size, depth + 1);
            if (i > 1)
                recgen_put(buf, at, size, ",");
        }
        recgen_put(buf, at, size, "]");
    }
}

/* A record into buf: *len its length, sometimes cut short or with
 * something after it. */
static inline void recgen_record(const struct recgen *g, unsigned *seed, char *buf, size_t size,
                                 size_t *len)
{
    size_t at = 0;
    buf[0] = 0;
    recgen_put(buf, &at, size, recgen_ws[rand_r(seed) % 7]);
    recgen_object(g, seed, buf, &at, size, 0);
    recgen_put(buf, &at, size, recgen_ws[rand_r(seed) % 7]);
    *len = at;
    if (rand_r(seed) % 10 == 0) /* cut short, or something after it */
        *len = rand_r(seed) % 2 ? (size_t)rand_r(seed) % (at + 1) : at;
    if (*len == at && rand_r(seed) % 20 == 0)
        recgen_put(buf, &at, size, rand_r(seed) % 2 ? "x" : "{}"), *len = at;
}

#endif
