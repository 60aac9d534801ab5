/* SPDX-License-Identifier: Apache-2.0 */
/* From records to an audience's interaction graph (daemon/score/build.c):
 * which edges each kind of record makes, what is left out, merges and the
 * half-life, with known answers. */
#include "unit.h"

#include <math.h>

#include "build.h"
#include "graph.h"
#include "result.h"
#include "util.h"

/* The store, as the resolver sees it: handles h<N> belong to c<N>; c6 was
 * merged into c2, c7 into c6 (so into c2); c8 is erased. */
static const char *current(void *arg, const char *cid)
{
    (void)arg;
    if (!strcmp(cid, "c6") || !strcmp(cid, "c7"))
        return "c2";
    if (!strcmp(cid, "c8"))
        return NULL;
    return cid;
}

static const char *of_handle(void *arg, const char *handle)
{
    (void)arg;
    static char buf[32];
    if (strncmp(handle, "x:h", 3) != 0)
        return NULL;
    snprintf(buf, sizeof buf, "c%s", handle + 3);
    return buf;
}

static const struct score_resolver RES = {current, of_handle, NULL};

#define DAY 86400000LL

static int64_t now_ms(void)
{
    int64_t t;
    assert_int_equal(util_parse_time("2026-12-01T00:00:00.000Z", &t), 0);
    return t;
}

static void add(struct score_build *b, const char *json)
{
    json_error_t err;
    json_t *r = json_loads(json, 0, &err);
    if (!r)
        fail_msg("bad test record %s: %s", json, err.text);
    assert_int_equal(score_build_add(b, r), 0);
    json_decref(r);
}

static uint32_t node(const struct score_build *b, const char *id)
{
    for (uint32_t i = 0; i < b->nnodes; i++)
        if (!strcmp(b->ids[i], id))
            return i;
    fail_msg("no node %s", id);
    return 0;
}

/* The summed weight of from -> to in the built graph, 0 when absent. */
static double weight(const struct score_graph *g, uint32_t from, uint32_t to)
{
    for (size_t i = g->out_start[from]; i < g->out_start[from + 1]; i++)
        if (g->out_dst[i] == to)
            return g->out_w[i];
    return 0;
}

#define T "\"occurred_at\":\"2026-12-01T00:00:00.000Z\""

static void test_edges_of_each_kind(void **state)
{
    (void)state;
    struct score_build b;
    score_build_init(&b, now_ms(), 0, &RES);
    /* The brand's post, c1 commenting on it, c2 answering c1, c3 reacting
     * to c1's comment, c4 sharing the post. */
    add(&b, "{\"source\":\"fb\",\"kind\":\"post\",\"direction\":\"outbound\",\"external_id\":\"P\","
            "\"from\":{\"handle\":\"fbpage:1\",\"role\":\"brand\"}," T "}");
    add(&b, "{\"source\":\"fb\",\"kind\":\"comment\",\"direction\":\"inbound\","
            "\"external_id\":\"C1\",\"reply_to\":\"P\",\"contact\":\"c1\","
            "\"from\":{\"handle\":\"x:h1\"}," T "}");
    add(&b,
        "{\"source\":\"fb\",\"kind\":\"comment\",\"direction\":\"inbound\","
        "\"external_id\":\"C2\",\"reply_to\":\"C1\",\"contact\":\"c2\","
        "\"from\":{\"handle\":\"x:h2\"},\"to\":[{\"handle\":\"fbpage:1\",\"role\":\"brand\"}]," T
        "}");
    add(&b, "{\"source\":\"fb\",\"kind\":\"reaction\",\"direction\":\"inbound\","
            "\"external_id\":\"R3\",\"reply_to\":\"C1\",\"contact\":\"c3\","
            "\"from\":{\"handle\":\"x:h3\"}," T "}");
    add(&b, "{\"source\":\"fb\",\"kind\":\"share\",\"direction\":\"inbound\","
            "\"external_id\":\"S4\",\"reply_to\":\"P\",\"contact\":\"c4\","
            "\"from\":{\"handle\":\"x:h4\"}," T "}");
    /* c1 mentions c5 and the brand; c2 writes to c3 (peer). */
    add(&b,
        "{\"source\":\"x\",\"kind\":\"mention\",\"direction\":\"inbound\","
        "\"external_id\":\"M1\",\"contact\":\"c1\",\"from\":{\"handle\":\"x:h1\"},"
        "\"mentions\":[{\"handle\":\"x:h5\"},{\"handle\":\"x:brand\",\"role\":\"brand\"}]," T "}");
    add(&b, "{\"source\":\"wa\",\"kind\":\"message\",\"direction\":\"peer\","
            "\"external_id\":\"W1\",\"contact\":\"c2\",\"from\":{\"handle\":\"x:h2\"},"
            "\"to\":[{\"handle\":\"x:h3\"}]," T "}");
    /* An inbound message to the brand, with no contact (identity = no):
     * from's handle resolves. */
    add(&b, "{\"source\":\"wa\",\"kind\":\"message\",\"direction\":\"inbound\","
            "\"external_id\":\"W2\",\"from\":{\"handle\":\"x:h4\"},"
            "\"to\":[{\"handle\":\"wa:1\",\"role\":\"brand\"}]," T "}");
    /* Left out: a scanner's click, an erased record, an erased contact, an
     * answer to a record never fed, a delivery report. */
    add(&b, "{\"source\":\"kanal\",\"kind\":\"click\",\"direction\":\"inbound\","
            "\"external_id\":\"K\",\"contact\":\"c1\",\"meta\":{\"suspected_bot\":true}," T "}");
    add(&b, "{\"source\":\"fb\",\"kind\":\"comment\",\"direction\":\"inbound\","
            "\"external_id\":\"erased-9\",\"contact\":\"c3\",\"meta\":{\"erased\":true}," T "}");
    add(&b, "{\"source\":\"fb\",\"kind\":\"comment\",\"direction\":\"inbound\","
            "\"external_id\":\"C8\",\"reply_to\":\"C1\",\"contact\":\"c8\"," T "}");
    add(&b, "{\"source\":\"fb\",\"kind\":\"comment\",\"direction\":\"inbound\","
            "\"external_id\":\"C9\",\"reply_to\":\"nowhere\",\"contact\":\"c3\"," T "}");
    add(&b, "{\"source\":\"wa\",\"kind\":\"delivery\",\"direction\":\"outbound\","
            "\"external_id\":\"D1\",\"reply_to\":\"W2\",\"status\":\"read\"," T "}");
    assert_int_equal(b.bots, 1);
    assert_int_equal(b.erased, 1);
    assert_int_equal(b.unknown_authors, 1);
    assert_int_equal(b.unresolved_replies, 1);
    assert_int_equal(b.records, 11);

    struct score_graph g;
    assert_int_equal(score_graph_build(&g, b.nnodes, &b.edges), 0);
    uint32_t c1 = node(&b, "c1"), c2 = node(&b, "c2"), c3 = node(&b, "c3"), c4 = node(&b, "c4"),
             c5 = node(&b, "c5");
    assert_true(weight(&g, c1, SCORE_BRAND) == 2); /* the comment and the mention */
    assert_true(weight(&g, c2, c1) == 1);          /* the answer, not also to the brand */
    assert_true(weight(&g, c2, SCORE_BRAND) == 0);
    assert_true(weight(&g, c3, c1) == 1);
    assert_true(weight(&g, c4, SCORE_BRAND) == 2); /* the share and the message */
    assert_true(weight(&g, c1, c5) == 1);
    assert_true(weight(&g, c2, c3) == 1);
    assert_int_equal(g.m, 6);
    /* Members: who authored; c5 was only mentioned. */
    assert_true(b.member[SCORE_BRAND] && b.member[c1] && b.member[c2] && b.member[c3] &&
                b.member[c4]);
    assert_false(b.member[c5]);
    score_graph_free(&g);
    score_build_free(&b);
}

/* After a merge, both contacts' interactions count for the one kept; the
 * half-life halves a record as old as it. */
static void test_merges_and_half_life(void **state)
{
    (void)state;
    struct score_build b;
    score_build_init(&b, now_ms(), 30 * DAY, &RES);
    add(&b, "{\"source\":\"fb\",\"kind\":\"post\",\"direction\":\"inbound\",\"external_id\":\"P\","
            "\"contact\":\"c1\"," T "}");
    /* c2, c6 and c7 are one person now. */
    add(&b, "{\"source\":\"fb\",\"kind\":\"comment\",\"direction\":\"inbound\","
            "\"external_id\":\"A\",\"reply_to\":\"P\",\"contact\":\"c2\","
            "\"occurred_at\":\"2026-11-01T00:00:00.000Z\"}");
    add(&b, "{\"source\":\"fb\",\"kind\":\"comment\",\"direction\":\"inbound\","
            "\"external_id\":\"B\",\"reply_to\":\"P\",\"contact\":\"c6\","
            "\"occurred_at\":\"2026-10-02T00:00:00.000Z\"}");
    add(&b, "{\"source\":\"fb\",\"kind\":\"comment\",\"direction\":\"inbound\","
            "\"external_id\":\"C\",\"reply_to\":\"P\",\"contact\":\"c7\"," T "}");
    /* A record from a clock ahead of ours weighs 1, not more. */
    add(&b, "{\"source\":\"fb\",\"kind\":\"comment\",\"direction\":\"inbound\","
            "\"external_id\":\"D\",\"reply_to\":\"P\",\"contact\":\"c3\","
            "\"occurred_at\":\"2027-01-01T00:00:00.000Z\"}");
    struct score_graph g;
    assert_int_equal(score_graph_build(&g, b.nnodes, &b.edges), 0);
    assert_int_equal(b.nnodes, 4); /* brand, c1, c2, c3 */
    uint32_t c1 = node(&b, "c1"), c2 = node(&b, "c2"), c3 = node(&b, "c3");
    /* 30 days old: 1/2; 60 days: 1/4; today: 1. */
    assert_true(fabs(weight(&g, c2, c1) - 1.75) < 1e-12);
    assert_true(weight(&g, c3, c1) == 1);
    assert_true(score_decay(0, 0) == 1 && score_decay(5 * DAY, 0) == 1);
    assert_true(fabs(score_decay(90 * DAY, 30 * DAY) - 0.125) < 1e-12);
    score_graph_free(&g);
    score_build_free(&b);
}

/* Local beats global: a contact with a million followers (meta) who
 * posts once and draws no answer ranks below a modest contact at the
 * centre of the audience's replies. */
static void test_local_beats_global(void **state)
{
    (void)state;
    struct score_build b;
    score_build_init(&b, now_ms(), 0, &RES);
    add(&b, "{\"source\":\"x\",\"kind\":\"post\",\"direction\":\"inbound\",\"external_id\":\"S\","
            "\"contact\":\"c9\",\"meta\":{\"followers\":1000000},"
            "\"to\":[{\"handle\":\"x:brand\",\"role\":\"brand\"}]," T "}");
    add(&b, "{\"source\":\"x\",\"kind\":\"post\",\"direction\":\"inbound\",\"external_id\":\"M\","
            "\"contact\":\"c1\",\"meta\":{\"followers\":40}," T "}");
    char rec[512];
    for (int i = 2; i <= 5; i++) {
        snprintf(rec, sizeof rec,
                 "{\"source\":\"x\",\"kind\":\"comment\",\"direction\":\"inbound\","
                 "\"external_id\":\"r%d\",\"reply_to\":\"M\",\"contact\":\"c%d\"," T "}",
                 i, i);
        add(&b, rec);
    }
    struct score_graph g;
    assert_int_equal(score_graph_build(&g, b.nnodes, &b.edges), 0);
    double *rank = calloc(g.n, sizeof *rank), *p = calloc(g.n, sizeof *p);
    for (uint32_t v = 0; v < g.n; v++)
        p[v] = b.member[v];
    assert_true(score_pagerank(&g, p, 0.85, 1e-12, 1000, rank) > 0);
    uint32_t modest = node(&b, "c1"), famous = node(&b, "c9");
    assert_true(rank[modest] > rank[famous]);
    for (uint32_t v = 0; v < g.n; v++)
        if (v != modest && v != SCORE_BRAND)
            assert_true(rank[modest] > rank[v]);
    free(rank);
    free(p);
    score_graph_free(&g);
    score_build_free(&b);
}

/* The scores' document of the audience above: shape, counts, and the
 * contacts by influence with the counts each measure was made from. */
static void test_result_document(void **state)
{
    (void)state;
    struct score_build b;
    score_build_init(&b, now_ms(), 0, &RES);
    add(&b, "{\"source\":\"x\",\"kind\":\"post\",\"direction\":\"inbound\",\"external_id\":\"S\","
            "\"contact\":\"c9\",\"to\":[{\"handle\":\"x:brand\",\"role\":\"brand\"}]," T "}");
    add(&b, "{\"source\":\"x\",\"kind\":\"post\",\"direction\":\"inbound\",\"external_id\":\"M\","
            "\"contact\":\"c1\"," T "}");
    char rec[512];
    for (int i = 2; i <= 5; i++) {
        snprintf(rec, sizeof rec,
                 "{\"source\":\"x\",\"kind\":\"comment\",\"direction\":\"inbound\","
                 "\"external_id\":\"r%d\",\"reply_to\":\"M\",\"contact\":\"c%d\"," T "}",
                 i, i);
        add(&b, rec);
    }
    add(&b, "{\"source\":\"kanal\",\"kind\":\"click\",\"direction\":\"inbound\","
            "\"external_id\":\"K\",\"contact\":\"c1\",\"meta\":{\"suspected_bot\":true}," T "}");
    json_t *r = score_result("source:x", 42, &b);
    assert_non_null(r);
    char *text = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *shape = json_object_get(r, "shape"), *from = json_object_get(r, "from");
    assert_string_equal(json_string_value(json_object_get(r, "audience")), "source:x");
    assert_int_equal(json_integer_value(json_object_get(r, "seq")), 42);
    assert_int_equal(json_integer_value(json_object_get(shape, "nodes")), 7);
    assert_int_equal(json_integer_value(json_object_get(shape, "edges")), 5);
    assert_int_equal(json_integer_value(json_object_get(shape, "components")), 2);
    assert_int_equal(json_integer_value(json_object_get(shape, "largest_component")), 5);
    assert_true(json_real_value(json_object_get(shape, "reciprocity")) == 0);
    assert_true(fabs(json_real_value(json_object_get(shape, "brand_share")) - 0.2) < 1e-12);
    assert_true(fabs(json_real_value(json_object_get(shape, "density")) - 5.0 / 42) < 1e-12);
    json_t *cores = json_object_get(shape, "k_core");
    assert_int_equal(json_array_size(cores), 2);
    assert_int_equal(json_integer_value(json_array_get(cores, 1)), 7);
    assert_int_equal(json_integer_value(json_object_get(from, "records")), 6);
    assert_int_equal(json_integer_value(json_object_get(from, "suspected_bots")), 1);
    json_t *list = json_object_get(r, "contacts");
    assert_int_equal(json_array_size(list), 6); /* the brand is no contact */
    json_t *top = json_array_get(list, 0);
    if (strcmp(json_string_value(json_object_get(top, "contact")), "c1") != 0)
        fail_msg("c1 is not first: %s", text);
    assert_int_equal(json_integer_value(json_object_get(top, "reach")), 4);
    assert_int_equal(json_integer_value(json_object_get(top, "in_degree")), 4);
    assert_int_equal(json_integer_value(json_object_get(top, "out_degree")), 0);
    assert_int_equal(json_integer_value(json_object_get(top, "k_core")), 1);
    assert_true(json_real_value(json_object_get(top, "weight_in")) == 4);
    double last = 1e9, sum = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        double inf = json_real_value(json_object_get(json_array_get(list, i), "influence"));
        assert_true(inf <= last); /* sorted, highest first */
        last = inf;
        sum += json_real_value(json_object_get(json_array_get(list, i), "pagerank"));
    }
    assert_true(sum < 1 && sum > 0.5); /* the rest is the brand's */
    free(text);
    json_decref(r);
    score_build_free(&b);
}

/* A run's builders share its people (each record read once, its people
 * numbered once): an audience fed so gets the graph a builder fed the
 * JSON alone gets, node for node and edge for edge, also past the size
 * where a builder's nodes move from a hash to an array by person (4096),
 * with every reply and mention between the right contacts. */
static void test_shared_people(void **state)
{
    (void)state;
    enum { N = 10000 };
    struct score_people people;
    score_people_init(&people, &RES, 1);
    struct score_build shared, alone;
    score_build_init_people(&shared, now_ms(), 30 * DAY, &people);
    score_build_init(&alone, now_ms(), 30 * DAY, &RES);
    struct score_rec r = {0};
    struct score_pool pool = {0};
    char rec[512];
    for (int i = 1; i <= N; i++) {
        /* c<10000+i> answers c<10000+i/2>'s post and mentions a contact
         * met later (by its handle). */
        snprintf(rec, sizeof rec,
                 "{\"source\":\"x\",\"kind\":\"comment\",\"direction\":\"inbound\","
                 "\"external_id\":\"p%d\",\"reply_to\":\"p%d\",\"contact\":\"c%d\","
                 "\"mentions\":[{\"handle\":\"x:h%d\",\"role\":\"customer\"}]," T "}",
                 i, i / 2, 10000 + i, 10000 + (i + 7) % N + 1);
        json_error_t err;
        json_t *j = json_loads(rec, 0, &err);
        assert_non_null(j);
        score_rec_read(&r, j, &people, &pool);
        assert_int_equal(score_build_add_rec(&shared, &r), 0);
        assert_int_equal(score_build_add(&alone, j), 0);
        json_decref(j);
    }
    score_rec_free(&r);
    score_pool_free(&pool);
    assert_int_equal(shared.nnodes, N + 1);
    assert_int_equal(alone.nnodes, N + 1);
    for (uint32_t v = 0; v < shared.nnodes; v++)
        assert_string_equal(shared.ids[v], alone.ids[v]);
    assert_int_equal(shared.edges.n, alone.edges.n);
    assert_int_equal(shared.unresolved_replies, 1); /* p0 was never seen */
    for (size_t e = 0; e < shared.edges.n; e++) {
        assert_int_equal(shared.edges.src[e], alone.edges.src[e]);
        assert_int_equal(shared.edges.dst[e], alone.edges.dst[e]);
        assert_true(shared.edges.w[e] == alone.edges.w[e]);
    }
    /* Contact c<10000+i> is the node numbered by when it was first met:
     * find each one's node by its id. */
    json_t *index = json_object();
    for (uint32_t v = 1; v < shared.nnodes; v++)
        json_object_set_new(index, shared.ids[v], json_integer(v));
    struct score_graph g;
    assert_int_equal(score_graph_build(&g, shared.nnodes, &shared.edges), 0);
    char a[32], b[32], m[32];
    for (int i = 1; i <= N; i++) {
        snprintf(a, sizeof a, "c%d", 10000 + i);
        snprintf(m, sizeof m, "c%d", 10000 + (i + 7) % N + 1);
        uint32_t va = (uint32_t)json_integer_value(json_object_get(index, a));
        uint32_t vm = (uint32_t)json_integer_value(json_object_get(index, m));
        assert_true(va > 0 && vm > 0);
        assert_true(score_graph_has_edge(&g, va, vm));
        if (i >= 2) {
            snprintf(b, sizeof b, "c%d", 10000 + i / 2);
            uint32_t vb = (uint32_t)json_integer_value(json_object_get(index, b));
            assert_true(vb > 0 && va != vb);
            assert_true(score_graph_has_edge(&g, va, vb));
        }
    }
    score_graph_free(&g);
    json_decref(index);
    score_build_free(&shared);
    score_build_free(&alone);
    score_people_free(&people);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edges_of_each_kind), cmocka_unit_test(test_merges_and_half_life),
        cmocka_unit_test(test_local_beats_global), cmocka_unit_test(test_result_document),
        cmocka_unit_test(test_shared_people),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
