/* SPDX-License-Identifier: Apache-2.0 */
/* Communities and the audience's class (daemon/score/community.c) with
 * answers known by construction: two camps of opposite sentiment that
 * rarely talk across are polarized, a star is cohesive, praise and
 * criticism inside the same communities is rich; the same graph always
 * gives the same communities.  Run as "test_score_community modularity",
 * it reads a graph on stdin and prints its communities and their
 * modularity, which tests/e2e/test_score_oracle.py holds against
 * networkx. */
#include "unit.h"

#include <math.h>

#include "build.h"
#include "community.h"
#include "graph.h"
#include "result.h"
#include "value.h"

/* Node 0 is the brand, as in an audience. */
static void graph(struct score_graph *g, uint32_t n, const uint32_t (*e)[2], size_t m)
{
    struct score_edges ed = {0};
    for (size_t i = 0; i < m; i++)
        assert_int_equal(score_edges_add(&ed, e[i][0], e[i][1], 1), 0);
    assert_int_equal(score_graph_build(g, n, &ed), 0);
    score_edges_free(&ed);
}

/* Facts where node v has pos[v] positive and neg[v] negative records. */
static void facts(struct score_facts *f, uint32_t n, const int *pos, const int *neg)
{
    score_facts_init(f);
    score_facts_grow(f, n);
    for (uint32_t v = 0; v < n; v++) {
        f->positive[v] = (uint32_t)pos[v];
        f->unhappy[v] = f->negative[v] = (uint32_t)neg[v];
        f->rated[v] = (uint32_t)(pos[v] + neg[v]);
    }
}

static char *ids[16] = {"brand", "c1", "c2",  "c3",  "c4",  "c5",  "c6",  "c7",
                        "c8",    "c9", "c10", "c11", "c12", "c13", "c14", "c15"};

static json_t *classify(const struct score_graph *g, const struct score_facts *f,
                        struct score_communities *c, json_t **groups)
{
    struct score_params p;
    score_params_default(&p);
    score_communities(g, SCORE_BRAND, c);
    return score_class(g, SCORE_BRAND, c, f, &p, 0.0, groups, ids);
}

/* Two cliques, 1-4 and 5-8, joined by one edge 4-5 (and the brand
 * answering 1). */
static const uint32_t CAMPS[][2] = {{1, 2}, {1, 3}, {1, 4}, {2, 3}, {2, 4}, {3, 4}, {4, 5},
                                    {5, 6}, {5, 7}, {5, 8}, {6, 7}, {6, 8}, {7, 8}, {0, 1}};

static void test_two_camps_polarized(void **state)
{
    (void)state;
    struct score_graph g;
    graph(&g, 9, CAMPS, sizeof CAMPS / sizeof *CAMPS);
    static const int pos[9] = {0, 2, 1, 3, 1, 0, 0, 0, 1};
    static const int neg[9] = {0, 0, 0, 0, 0, 2, 3, 1, 2};
    struct score_facts f;
    facts(&f, 9, pos, neg);
    struct score_communities c;
    json_t *groups, *k = classify(&g, &f, &c, &groups);
    assert_string_equal(json_string_value(json_object_get(k, "label")), "polarized");
    assert_int_equal(c.count, 2);
    for (uint32_t v = 1; v <= 4; v++)
        assert_int_equal(c.of[v], c.of[1]);
    for (uint32_t v = 5; v <= 8; v++)
        assert_int_equal(c.of[v], c.of[5]);
    assert_int_not_equal(c.of[1], c.of[5]);
    assert_int_equal(c.of[0], UINT32_MAX);
    /* Modularity by hand: m = 13, each camp 6 inside and degree 13:
     * 2 * (12/26 - (13/26)^2). */
    assert_true(fabs(c.modularity - 2 * (12.0 / 26 - 0.25)) < 1e-12);
    assert_true(fabs(json_real_value(json_object_get(k, "cross_share")) - 1.0 / 13) < 1e-12);
    assert_true(json_real_value(json_object_get(k, "camps_share")) == 1);
    assert_int_equal(json_array_size(groups), 2);
    json_t *fans = json_array_get(groups, c.of[1]);
    assert_true(fabs(json_real_value(json_object_get(fans, "mean_sentiment")) - 1) < 1e-12);
    assert_int_equal(json_integer_value(json_object_get(fans, "positive")), 7);
    json_t *critics = json_array_get(groups, c.of[5]);
    assert_true(json_real_value(json_object_get(critics, "mean_sentiment")) < -0.5);

    /* The same graph, the same communities. */
    struct score_communities again;
    score_communities(&g, SCORE_BRAND, &again);
    assert_memory_equal(again.of, c.of, 9 * sizeof *c.of);
    score_communities_free(&again);
    json_decref(k);
    json_decref(groups);
    score_communities_free(&c);

    /* The same camps talking across much (every fan answers every critic)
     * are no longer two camps that rarely talk: not polarized. */
    uint32_t e[64][2];
    size_t m = sizeof CAMPS / sizeof *CAMPS;
    memcpy(e, CAMPS, sizeof CAMPS);
    for (uint32_t a = 1; a <= 4; a++)
        for (uint32_t b = 5; b <= 8; b++)
            e[m][0] = a, e[m++][1] = b;
    score_graph_free(&g);
    graph(&g, 9, (const uint32_t(*)[2])e, m);
    k = classify(&g, &f, &c, &groups);
    assert_string_not_equal(json_string_value(json_object_get(k, "label")), "polarized");
    json_decref(k);
    json_decref(groups);
    score_communities_free(&c);
    score_facts_free(&f);
    score_graph_free(&g);
}

/* Six pairs talking apart, one pair of fans and one of critics among
 * them: two small groups are no camps of the audience, so not polarized
 * (camps_share 4/12), though they never talk across. */
static void test_small_camps_are_not_polarized(void **state)
{
    (void)state;
    static const uint32_t e[][2] = {{1, 2}, {3, 4}, {5, 6}, {7, 8}, {9, 10}, {11, 12}};
    struct score_graph g;
    graph(&g, 13, e, sizeof e / sizeof *e);
    static const int pos[13] = {0, 2, 2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    static const int neg[13] = {0, 0, 0, 2, 2, 1, 0, 0, 0, 0, 0, 0, 0};
    struct score_facts f;
    facts(&f, 13, pos, neg);
    struct score_communities c;
    json_t *groups, *k = classify(&g, &f, &c, &groups);
    assert_int_equal(c.count, 6);
    assert_true(fabs(json_real_value(json_object_get(k, "camps_share")) - 4.0 / 12) < 1e-12);
    assert_true(json_real_value(json_object_get(k, "cross_share")) == 0);
    assert_string_equal(json_string_value(json_object_get(k, "label")), "rich");
    json_decref(k);
    json_decref(groups);
    score_communities_free(&c);
    score_facts_free(&f);
    score_graph_free(&g);
}

/* Everyone answers c1 and c1 answers some back: cohesive, c1 on top. */
static void test_star_cohesive(void **state)
{
    (void)state;
    static const uint32_t e[][2] = {{2, 1}, {3, 1}, {4, 1}, {5, 1}, {6, 1},
                                    {7, 1}, {8, 1}, {1, 2}, {1, 3}, {2, 3}};
    struct score_graph g;
    graph(&g, 9, e, sizeof e / sizeof *e);
    static const int pos[9] = {0, 1, 1, 0, 1, 0, 1, 0, 1};
    static const int neg[9] = {0, 0, 0, 1, 0, 1, 0, 1, 0};
    struct score_facts f;
    facts(&f, 9, pos, neg);
    struct score_communities c;
    json_t *groups, *k = classify(&g, &f, &c, &groups);
    assert_string_equal(json_string_value(json_object_get(k, "label")), "cohesive");
    assert_true(json_real_value(json_object_get(k, "star")) == 1);
    assert_string_equal(json_string_value(json_object_get(k, "top")), "c1");
    json_decref(k);
    json_decref(groups);
    score_communities_free(&c);
    /* Everyone writing only to the brand is cohesive by the brand's share. */
    struct score_params p;
    score_params_default(&p);
    score_communities(&g, SCORE_BRAND, &c);
    k = score_class(&g, SCORE_BRAND, &c, &f, &p, 0.9, &groups, ids);
    assert_string_equal(json_string_value(json_object_get(k, "label")), "cohesive");
    json_decref(k);
    json_decref(groups);
    score_communities_free(&c);
    score_facts_free(&f);
    score_graph_free(&g);
}

/* The two cliques again, each with fans and critics inside: rich. */
static void test_mixed_rich(void **state)
{
    (void)state;
    struct score_graph g;
    graph(&g, 9, CAMPS, sizeof CAMPS / sizeof *CAMPS);
    static const int pos[9] = {0, 2, 0, 3, 0, 2, 0, 1, 0};
    static const int neg[9] = {0, 0, 2, 0, 3, 0, 2, 0, 1};
    struct score_facts f;
    facts(&f, 9, pos, neg);
    struct score_communities c;
    json_t *groups, *k = classify(&g, &f, &c, &groups);
    assert_string_equal(json_string_value(json_object_get(k, "label")), "rich");
    assert_int_equal(json_integer_value(json_object_get(k, "mixed_communities")), 2);
    assert_true(json_real_value(json_object_get(k, "mixed_share")) == 1);
    assert_true(json_is_null(json_object_get(k, "camps")));
    json_decref(k);
    json_decref(groups);
    score_communities_free(&c);
    score_facts_free(&f);
    score_graph_free(&g);
}

/* Input: "n m" then m lines "src dst weight".  Output: "count modularity"
 * then n lines, each node's community (-1 for none).  Node 0 is taken
 * for an ordinary node (no brand). */
static int modularity(void)
{
    unsigned n, m;
    if (scanf("%u %u", &n, &m) != 2)
        return 2;
    struct score_edges ed = {0};
    for (unsigned i = 0; i < m; i++) {
        unsigned a, b;
        double w;
        if (scanf("%u %u %lf", &a, &b, &w) != 3 || score_edges_add(&ed, a, b, w) != 0)
            return 2;
    }
    struct score_graph g;
    if (score_graph_build(&g, n, &ed) != 0)
        return 2;
    struct score_communities c;
    score_communities(&g, UINT32_MAX, &c);
    printf("%u %.17g\n", c.count, c.modularity);
    for (unsigned v = 0; v < n; v++)
        printf("%u\n", c.of[v]);
    score_communities_free(&c);
    score_graph_free(&g);
    score_edges_free(&ed);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "modularity") == 0)
        return modularity();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_camps_polarized),
        cmocka_unit_test(test_small_camps_are_not_polarized),
        cmocka_unit_test(test_star_cohesive),
        cmocka_unit_test(test_mixed_rich),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
