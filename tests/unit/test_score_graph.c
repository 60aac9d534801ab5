/* SPDX-License-Identifier: Apache-2.0 */
/* The audience graph (daemon/score/graph.c) on graphs whose answers are
 * known by hand.  Run as "test_score_graph oracle", it reads a graph on
 * stdin and prints its measures, so that tests/e2e/test_score_oracle.py
 * can hold them against networkx on random graphs. */
#include "unit.h"

#include <errno.h>
#include <math.h>

#include "graph.h"

static void build(struct score_graph *g, uint32_t n, const uint32_t (*e)[2], size_t ne)
{
    struct score_edges ed = {0};
    for (size_t i = 0; i < ne; i++)
        assert_int_equal(score_edges_add(&ed, e[i][0], e[i][1], 1.0), 0);
    assert_int_equal(score_graph_build(g, n, &ed), 0);
    score_edges_free(&ed);
}

static void test_build_merges_and_refuses(void **state)
{
    (void)state;
    struct score_edges ed = {0};
    assert_int_equal(score_edges_add(&ed, 0, 1, 0), -EINVAL);
    assert_int_equal(score_edges_add(&ed, 0, 1, -1), -EINVAL);
    assert_int_equal(score_edges_add(&ed, 0, 1, NAN), -EINVAL);
    assert_int_equal(score_edges_add(&ed, 0, 1, INFINITY), -EINVAL);
    assert_int_equal(score_edges_add(&ed, 2, 1, 1.5), 0);
    assert_int_equal(score_edges_add(&ed, 0, 1, 2.0), 0);
    assert_int_equal(score_edges_add(&ed, 2, 2, 7.0), 0); /* a self-loop: dropped */
    assert_int_equal(score_edges_add(&ed, 0, 1, 0.5), 0); /* repeated: summed */
    assert_int_equal(score_edges_add(&ed, 0, 2, 1.0), 0);
    struct score_graph g;
    assert_int_equal(score_graph_build(&g, 3, &ed), 0);
    assert_int_equal(g.m, 3);
    assert_true(score_graph_has_edge(&g, 0, 1));
    assert_true(score_graph_has_edge(&g, 0, 2));
    assert_true(score_graph_has_edge(&g, 2, 1));
    assert_false(score_graph_has_edge(&g, 1, 0));
    assert_false(score_graph_has_edge(&g, 2, 2));
    assert_int_equal(g.out_start[1] - g.out_start[0], 2);
    assert_true(fabs(g.out_w[g.out_start[0]] - 2.5) < 1e-12);
    assert_true(fabs(g.out_wsum[0] - 3.5) < 1e-12);
    assert_true(fabs(g.out_wsum[2] - 1.5) < 1e-12);
    score_graph_free(&g);
    /* An edge naming a node beyond n. */
    assert_int_equal(score_edges_add(&ed, 3, 0, 1.0), 0);
    assert_int_equal(score_graph_build(&g, 3, &ed), -EINVAL);
    score_graph_free(&g);
    score_edges_free(&ed);
}

static void test_pagerank_known(void **state)
{
    (void)state;
    /* A star of three leaves answering the hub, which answers no one.  A
     * leaf gets the jump only, l = (a h + (1 - a)) / 4 (the hub's rank h
     * dangles); h + 3 l = 1 gives h = 0.8875 / 1.6375 for a = 0.85. */
    static const uint32_t star[][2] = {{1, 0}, {2, 0}, {3, 0}};
    struct score_graph g;
    build(&g, 4, star, 3);
    double r[4];
    assert_true(score_pagerank(&g, NULL, 0.85, 1e-12, 1000, r) > 0);
    assert_true(fabs(r[0] - 0.8875 / 1.6375) < 1e-9);
    for (int i = 1; i < 4; i++)
        assert_true(fabs(r[i] - (1 - r[0]) / 3) < 1e-9);
    /* Personalized on node 1 alone: the jump lands only there. */
    double p[4] = {0, 1, 0, 0};
    assert_true(score_pagerank(&g, p, 0.85, 1e-12, 1000, r) > 0);
    assert_true(r[2] < 1e-12 && r[3] < 1e-12);
    assert_true(fabs(r[0] + r[1] - 1) < 1e-9);
    assert_true(fabs(r[0] - 0.85 * r[1]) < 1e-9); /* all of 1's rank flows to 0 */
    /* Bad arguments. */
    double zero[4] = {0};
    assert_int_equal(score_pagerank(&g, zero, 0.85, 1e-12, 1000, r), -EINVAL);
    assert_int_equal(score_pagerank(&g, NULL, 1.0, 1e-12, 1000, r), -EINVAL);
    assert_int_equal(score_pagerank(&g, NULL, 0.85, 1e-300, 1, r), -ERANGE);
    score_graph_free(&g);

    /* A two-cycle: both alike, whatever the weights. */
    struct score_edges ed = {0};
    assert_int_equal(score_edges_add(&ed, 0, 1, 5), 0);
    assert_int_equal(score_edges_add(&ed, 1, 0, 1), 0);
    assert_int_equal(score_graph_build(&g, 2, &ed), 0);
    assert_true(score_pagerank(&g, NULL, 0.85, 1e-12, 1000, r) > 0);
    assert_true(fabs(r[0] - 0.5) < 1e-9 && fabs(r[1] - 0.5) < 1e-9);
    score_graph_free(&g);
    score_edges_free(&ed);
}

/* Local beats global in the graph's terms: a node others answer ranks
 * above one that only speaks, however much it speaks. */
static void test_pagerank_centre_beats_talker(void **state)
{
    (void)state;
    /* 0 is answered by 1, 2, 3; 4 writes to everyone, no one to 4. */
    static const uint32_t e[][2] = {{1, 0}, {2, 0}, {3, 0}, {0, 1}, {4, 0}, {4, 1}, {4, 2}, {4, 3}};
    struct score_graph g;
    build(&g, 5, e, sizeof e / sizeof e[0]);
    double r[5];
    assert_true(score_pagerank(&g, NULL, 0.85, 1e-12, 1000, r) > 0);
    for (int i = 1; i < 5; i++)
        assert_true(r[0] > r[i]);
    assert_true(r[4] < r[1]);
    score_graph_free(&g);
}

static void test_kcore_and_shape(void **state)
{
    (void)state;
    /* K4 on 0..3 (one direction each, 0<->1 both ways), a tail 3-4-5, a
     * pendant 6 on 0, and 7..8 apart; 9 alone. */
    static const uint32_t e[][2] = {{0, 1}, {1, 0}, {0, 2}, {0, 3}, {1, 2}, {1, 3},
                                    {2, 3}, {3, 4}, {5, 4}, {6, 0}, {7, 8}, {8, 7}};
    struct score_graph g;
    build(&g, 10, e, sizeof e / sizeof e[0]);
    uint32_t core[10];
    uint32_t max = score_kcore(&g, core);
    assert_int_equal(max, 3);
    static const uint32_t want[10] = {3, 3, 3, 3, 1, 1, 1, 1, 1, 0};
    for (int i = 0; i < 10; i++)
        if (core[i] != want[i])
            fail_msg("core[%d] = %u, expected %u", i, core[i], want[i]);

    struct score_shape s;
    score_shape(&g, 0, core, max, &s);
    assert_int_equal(s.nodes, 10);
    assert_int_equal(s.edges, 12);
    assert_true(fabs(s.density - 12.0 / 90) < 1e-12);
    assert_int_equal(s.components, 3);
    assert_int_equal(s.largest, 7);
    assert_true(fabs(s.reciprocity - 4.0 / 12) < 1e-12);
    /* 0's edges: 0->1, 1->0, 0->2, 0->3, 6->0. */
    assert_true(fabs(s.brand_share - 5.0 / 12) < 1e-12);
    assert_int_equal(s.core_sizes[0], 10);
    assert_int_equal(s.core_sizes[1], 9);
    assert_int_equal(s.core_sizes[2], 4);
    assert_int_equal(s.core_sizes[3], 4);
    score_shape_free(&s);
    score_graph_free(&g);

    /* No nodes at all. */
    struct score_edges none = {0};
    assert_int_equal(score_graph_build(&g, 0, &none), 0);
    assert_int_equal(score_kcore(&g, core), 0);
    score_shape(&g, UINT32_MAX, core, 0, &s);
    assert_int_equal(s.components, 0);
    assert_true(s.density == 0 && s.reciprocity == 0 && s.brand_share == 0);
    score_shape_free(&s);
    score_graph_free(&g);
}

/* Input: "n m alpha" then m lines "src dst weight", then "k" and k lines
 * "node weight" of the personalization (k = 0: every node alike).  Output:
 * "rounds max_core", n lines "rank core", then "components largest
 * reciprocity density". */
static int oracle(void)
{
    unsigned n, m, k;
    double alpha;
    if (scanf("%u %u %lf", &n, &m, &alpha) != 3)
        return 2;
    struct score_edges ed = {0};
    for (unsigned i = 0; i < m; i++) {
        unsigned a, b;
        double w;
        if (scanf("%u %u %lf", &a, &b, &w) != 3 || score_edges_add(&ed, a, b, w) != 0)
            return 2;
    }
    if (scanf("%u", &k) != 1)
        return 2;
    double *p = k ? calloc(n, sizeof *p) : NULL;
    for (unsigned i = 0; i < k; i++) {
        unsigned v;
        double w;
        if (scanf("%u %lf", &v, &w) != 2 || v >= n)
            return 2;
        p[v] = w;
    }
    struct score_graph g;
    if (score_graph_build(&g, n, &ed) != 0)
        return 2;
    double *r = calloc(n ? n : 1, sizeof *r);
    uint32_t *core = calloc(n ? n : 1, sizeof *core);
    int rounds = score_pagerank(&g, p, alpha, 1e-13, 10000, r);
    uint32_t max = score_kcore(&g, core);
    struct score_shape s;
    score_shape(&g, UINT32_MAX, core, max, &s);
    printf("%d %u\n", rounds, max);
    for (unsigned v = 0; v < n; v++)
        printf("%.17g %u\n", r[v], core[v]);
    printf("%u %u %.17g %.17g\n", s.components, s.largest, s.reciprocity, s.density);
    score_shape_free(&s);
    score_graph_free(&g);
    score_edges_free(&ed);
    free(core);
    free(r);
    free(p);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "oracle") == 0)
        return oracle();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_merges_and_refuses),
        cmocka_unit_test(test_pagerank_known),
        cmocka_unit_test(test_pagerank_centre_beats_talker),
        cmocka_unit_test(test_kcore_and_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
