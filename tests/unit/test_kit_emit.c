/* SPDX-License-Identifier: Apache-2.0 */
/* The plugin kit's emit-then promise (kanal_kit_emit_then) and the HTTP
 * answer built on it (kanal_kit_emit_answer), against a host table of
 * function pointers — the kit's real interface — whose emit() returns what
 * a test scripts and whose commit callbacks the test calls when it likes.
 * Each outcome a plugin acts on is checked: committed (with seqs), the
 * fallback kept instead of refused records (refused by emit() or in the
 * commit), retry later (store busy, stopping, any store error) and failed
 * (refused even as unknown, no fallback, out of memory); done is called
 * exactly once and never from within the call that returned an error. */
#include "unit.h"

#include <errno.h>
#include <string.h>

#include <kanal/kit.h>

#define MAX_CALLS 8

/* One emit() the kit made, with copies of what it was given. */
struct call {
    char json[512];
    size_t len;
    int had_json;
    char keys[4][32];
    char values[4][64];
    size_t lens[4];
    size_t nstates;
    kanal_emit_cb cb;
    void *arg;
};

static struct {
    int script[MAX_CALLS]; /* what successive emit() calls return */
    struct call calls[MAX_CALLS];
    size_t ncalls;
    int in_call; /* inside the kit function under test */
    int done_calls;
    int done_in_call;
    struct kanal_kit_result res;
    uint64_t seqs[8];
    int builds;
    int build_result;
    /* the HTTP answer */
    int http_status;
    char http_body[512];
    char retry_after[16];
    int answers;
    int answer_done_status;
    int answer_done_calls;
} F;

static void fake_log(struct kanal_source *src, int level, const char *fmt, ...)
{
    (void)src;
    (void)level;
    (void)fmt;
}

static const char *fake_strerror(int err)
{
    return err == KANAL_ESTORE ? "store busy" : "error";
}

static int fake_emit(struct kanal_source *src, const char *json, size_t len,
                     const struct kanal_state_entry *states, size_t nstates, kanal_emit_cb cb,
                     void *arg)
{
    (void)src;
    assert_true(F.ncalls < MAX_CALLS);
    struct call *c = &F.calls[F.ncalls];
    int r = F.script[F.ncalls++];
    assert_true(len < sizeof c->json);
    c->had_json = json != NULL;
    if (json)
        memcpy(c->json, json, len);
    c->json[len] = '\0';
    c->len = len;
    assert_true(nstates <= 4);
    c->nstates = nstates;
    for (size_t i = 0; i < nstates; i++) {
        snprintf(c->keys[i], sizeof c->keys[i], "%s", states[i].key);
        assert_true(states[i].len < sizeof c->values[i]);
        memcpy(c->values[i], states[i].value, states[i].len);
        c->lens[i] = states[i].len;
    }
    c->cb = r == 0 ? cb : NULL;
    c->arg = arg;
    return r;
}

static int fake_add_header(struct kanal_http_request *req, const char *name, const char *value)
{
    (void)req;
    if (strcmp(name, "Retry-After") == 0)
        snprintf(F.retry_after, sizeof F.retry_after, "%s", value);
    return 0;
}

static int fake_respond(struct kanal_http_request *req, int status, const char *type,
                        const void *body, size_t len)
{
    (void)req;
    (void)type;
    F.answers++;
    F.http_status = status;
    snprintf(F.http_body, sizeof F.http_body, "%.*s", (int)len, (const char *)body);
    return 0;
}

static struct kanal_host host = {
    .abi_major = KANAL_ABI_MAJOR,
    .abi_minor = KANAL_ABI_MINOR,
    .size = sizeof(struct kanal_host),
    .log = fake_log,
    .strerror = fake_strerror,
    .emit = fake_emit,
    .http_add_header = fake_add_header,
    .http_respond = fake_respond,
};

static int reset(void **state)
{
    (void)state;
    memset(&F, 0, sizeof F);
    return 0;
}

static void on_done(void *arg, const struct kanal_kit_result *res)
{
    assert_ptr_equal(arg, &F);
    F.done_calls++;
    F.done_in_call += F.in_call;
    F.res = *res;
    for (size_t i = 0; i < res->n && i < 8; i++)
        F.seqs[i] = res->seqs[i];
}

static int build(void *arg, char **out)
{
    F.builds++;
    if (F.build_result < 0)
        return F.build_result;
    *out = strdup((const char *)arg);
    return *out ? 0 : -ENOMEM;
}

/* kanal_kit_emit_then with done = on_done, noting that the call is on. */
static int emit_then(const char *json, const struct kanal_state_entry *states, size_t nstates,
                     const struct kanal_kit_fallback *fb)
{
    F.in_call = 1;
    int r = kanal_kit_emit_then(&host, NULL, json, json ? strlen(json) : 0, states, nstates, fb,
                                on_done, &F);
    F.in_call = 0;
    return r;
}

/* kanald completes the commit of emit() call i. */
static void commit(size_t i, int status, const uint64_t *seqs, size_t n)
{
    assert_true(i < F.ncalls);
    assert_non_null(F.calls[i].cb);
    kanal_emit_cb cb = F.calls[i].cb;
    F.calls[i].cb = NULL; /* kanald calls it once */
    cb(F.calls[i].arg, status, seqs, n);
}

static const struct kanal_state_entry cursor[] = {{"cursor", "41", 2}, {"mid:x", "{}", 2}};
static const char *const UNKNOWN = "{\"kind\":\"unknown\",\"external_id\":\"u-1\"}";

static void test_committed_calls_done_later_with_the_seqs(void **state)
{
    const struct kanal_state_entry fb_state = {"cursor", "41", 2};
    const struct kanal_kit_fallback fb = {
        .build = build, .build_arg = (void *)UNKNOWN, .states = &fb_state, .nstates = 1};
    assert_int_equal(emit_then("[{\"a\":1},{\"b\":2}]", cursor, 2, &fb), 0);
    assert_int_equal(F.ncalls, 1);
    assert_string_equal(F.calls[0].json, "[{\"a\":1},{\"b\":2}]");
    assert_int_equal(F.calls[0].nstates, 2);
    assert_int_equal(F.done_calls, 0); /* not before the commit */
    const uint64_t seqs[] = {7, 8};
    commit(0, 0, seqs, 2);
    assert_int_equal(F.done_calls, 1);
    assert_int_equal(F.done_in_call, 0);
    assert_int_equal(F.res.outcome, KANAL_KIT_COMMITTED);
    assert_int_equal(F.res.status, 0);
    assert_int_equal(F.res.as_unknown, 0);
    assert_int_equal(F.res.n, 2);
    assert_int_equal(F.seqs[0], 7);
    assert_int_equal(F.seqs[1], 8);
    assert_int_equal(F.builds, 0); /* the fallback is built only when needed */
    assert_int_equal(F.ncalls, 1);
}

static void test_refused_by_emit_keeps_the_prepared_fallback_with_its_states(void **state)
{
    char key[16] = "cursor", value[16] = "42";
    struct kanal_state_entry fb_state = {key, value, 2};
    struct kanal_kit_fallback fb = {.json = UNKNOWN, .states = &fb_state, .nstates = 1};
    F.script[0] = KANAL_ERECORD;
    assert_int_equal(emit_then("{\"bad\":1}", cursor, 2, &fb), 1);
    assert_int_equal(F.ncalls, 2);
    assert_string_equal(F.calls[1].json, UNKNOWN);
    /* the fallback's own states, not the refused emit's dedup entries */
    assert_int_equal(F.calls[1].nstates, 1);
    assert_string_equal(F.calls[1].keys[0], "cursor");
    assert_memory_equal(F.calls[1].values[0], "42", 2);
    assert_int_equal(F.done_calls, 0);
    const uint64_t seqs[] = {9};
    commit(1, 0, seqs, 1);
    assert_int_equal(F.done_calls, 1);
    assert_int_equal(F.res.outcome, KANAL_KIT_COMMITTED);
    assert_int_equal(F.res.as_unknown, 1);
    assert_int_equal(F.res.n, 1);
    assert_int_equal(F.seqs[0], 9);
}

static void test_refused_in_the_commit_builds_the_fallback_then(void **state)
{
    /* The caller's fallback and state buffers are gone by the late refusal. */
    char key[16] = "since", value[16] = "1000";
    struct kanal_state_entry fb_state = {key, value, 4};
    struct kanal_kit_fallback fb = {
        .build = build, .build_arg = (void *)UNKNOWN, .states = &fb_state, .nstates = 1};
    assert_int_equal(emit_then("[{\"t\":1}]", &fb_state, 1, &fb), 0);
    memset(key, 'x', sizeof key - 1);
    memset(value, 'y', sizeof value - 1);
    memset(&fb, 0, sizeof fb);
    assert_int_equal(F.builds, 0);
    commit(0, KANAL_ERECORD, NULL, 0);
    assert_int_equal(F.done_calls, 0); /* the fallback is on its way */
    assert_int_equal(F.builds, 1);
    assert_int_equal(F.ncalls, 2);
    assert_string_equal(F.calls[1].json, UNKNOWN);
    assert_int_equal(F.calls[1].nstates, 1);
    assert_string_equal(F.calls[1].keys[0], "since");
    assert_int_equal(F.calls[1].lens[0], 4);
    assert_memory_equal(F.calls[1].values[0], "1000", 4);
    const uint64_t seqs[] = {3};
    commit(1, 0, seqs, 1);
    assert_int_equal(F.done_calls, 1);
    assert_int_equal(F.res.outcome, KANAL_KIT_COMMITTED);
    assert_int_equal(F.res.as_unknown, 1);
    assert_int_equal(F.seqs[0], 3);
}

static void test_store_errors_are_retry_later(void **state)
{
    const int errors[] = {KANAL_ESTORE, KANAL_ESTOPPED, -EIO, -ENOSPC};
    const struct kanal_kit_fallback fb = {.json = UNKNOWN};
    for (size_t i = 0; i < sizeof errors / sizeof *errors; i++) {
        /* from emit(): the caller has the error, done is never called */
        reset(NULL);
        F.script[0] = errors[i];
        assert_int_equal(emit_then("{}", NULL, 0, &fb), errors[i]);
        assert_int_equal(kanal_kit_outcome_of(errors[i]), KANAL_KIT_RETRY);
        assert_int_equal(F.ncalls, 1); /* no fallback for a busy store */
        assert_int_equal(F.done_calls, 0);
        /* in the commit */
        reset(NULL);
        assert_int_equal(emit_then("{}", cursor, 1, &fb), 0);
        commit(0, errors[i], NULL, 0);
        assert_int_equal(F.ncalls, 1);
        assert_int_equal(F.done_calls, 1);
        assert_int_equal(F.done_in_call, 0);
        assert_int_equal(F.res.outcome, KANAL_KIT_RETRY);
        assert_int_equal(F.res.status, errors[i]);
        assert_int_equal(F.res.as_unknown, 0);
        assert_int_equal(F.res.n, 0);
        assert_null(F.res.seqs);
    }
    /* the fallback's own commit can be busy too */
    reset(NULL);
    assert_int_equal(emit_then("{}", NULL, 0, &fb), 0);
    commit(0, KANAL_ERECORD, NULL, 0);
    commit(1, KANAL_ESTORE, NULL, 0);
    assert_int_equal(F.done_calls, 1);
    assert_int_equal(F.res.outcome, KANAL_KIT_RETRY);
    assert_int_equal(F.res.as_unknown, 1);
}

static void test_refused_without_fallback_fails(void **state)
{
    F.script[0] = KANAL_ERECORD;
    assert_int_equal(emit_then("{}", cursor, 1, NULL), KANAL_ERECORD);
    assert_int_equal(F.ncalls, 1);
    assert_int_equal(F.done_calls, 0);
    assert_int_equal(kanal_kit_outcome_of(KANAL_ERECORD), KANAL_KIT_FAILED);

    reset(NULL);
    const struct kanal_kit_fallback empty = {0}; /* neither json nor build */
    assert_int_equal(emit_then("{}", cursor, 1, &empty), 0);
    commit(0, KANAL_ERECORD, NULL, 0);
    assert_int_equal(F.ncalls, 1);
    assert_int_equal(F.done_calls, 1);
    assert_int_equal(F.res.outcome, KANAL_KIT_FAILED);
    assert_int_equal(F.res.status, KANAL_ERECORD);
    assert_int_equal(F.res.as_unknown, 0);
}

static void test_fallback_refused_too_fails_once(void **state)
{
    const struct kanal_kit_fallback fb = {.build = build, .build_arg = (void *)UNKNOWN};
    /* both refused by emit() */
    F.script[0] = F.script[1] = KANAL_ERECORD;
    assert_int_equal(emit_then("{}", NULL, 0, &fb), KANAL_ERECORD);
    assert_int_equal(F.ncalls, 2);
    assert_int_equal(F.done_calls, 0);
    /* refused in the commit, the fallback by emit() */
    reset(NULL);
    F.script[1] = KANAL_ERECORD;
    assert_int_equal(emit_then("{}", NULL, 0, &fb), 0);
    commit(0, KANAL_ERECORD, NULL, 0);
    assert_int_equal(F.ncalls, 2);
    assert_int_equal(F.done_calls, 1);
    assert_int_equal(F.res.outcome, KANAL_KIT_FAILED);
    assert_int_equal(F.res.status, KANAL_ERECORD);
    assert_int_equal(F.res.as_unknown, 1);
    /* the fallback refused in its commit: no third try */
    reset(NULL);
    F.script[0] = KANAL_ERECORD;
    assert_int_equal(emit_then("{}", NULL, 0, &fb), 1);
    commit(1, KANAL_ERECORD, NULL, 0);
    assert_int_equal(F.ncalls, 2);
    assert_int_equal(F.builds, 1);
    assert_int_equal(F.done_calls, 1);
    assert_int_equal(F.res.outcome, KANAL_KIT_FAILED);
    assert_int_equal(F.res.as_unknown, 1);
}

static void test_fallback_that_cannot_be_built_fails(void **state)
{
    const struct kanal_kit_fallback fb = {.build = build, .build_arg = (void *)UNKNOWN};
    F.build_result = -ENOMEM;
    F.script[0] = KANAL_ERECORD;
    assert_int_equal(emit_then("{}", NULL, 0, &fb), -ENOMEM);
    assert_int_equal(F.ncalls, 1);
    assert_int_equal(F.done_calls, 0);

    reset(NULL);
    F.build_result = -ENOMEM;
    assert_int_equal(emit_then("{}", NULL, 0, &fb), 0);
    commit(0, KANAL_ERECORD, NULL, 0);
    assert_int_equal(F.ncalls, 1);
    assert_int_equal(F.done_calls, 1);
    assert_int_equal(F.res.outcome, KANAL_KIT_FAILED);
    assert_int_equal(F.res.status, -ENOMEM);
}

static void test_nothing_to_emit_is_refused(void **state)
{
    /* no records and no states: not handed to kanald at all */
    assert_int_equal(emit_then(NULL, NULL, 0, NULL), KANAL_ERECORD);
    assert_int_equal(emit_then("", NULL, 0, NULL), KANAL_ERECORD);
    assert_int_equal(F.ncalls, 0);
    const struct kanal_kit_fallback fb = {.json = UNKNOWN};
    assert_int_equal(emit_then(NULL, NULL, 0, &fb), 1);
    assert_int_equal(F.ncalls, 1);
    assert_string_equal(F.calls[0].json, UNKNOWN);
    commit(0, 0, NULL, 0);
    assert_int_equal(F.done_calls, 1);
    assert_int_equal(F.res.as_unknown, 1);
    /* states alone are an emit */
    reset(NULL);
    assert_int_equal(emit_then(NULL, cursor, 1, &fb), 0);
    assert_int_equal(F.ncalls, 1);
    assert_false(F.calls[0].had_json);
    assert_int_equal(F.calls[0].nstates, 1);
    commit(0, 0, NULL, 0);
    assert_int_equal(F.res.outcome, KANAL_KIT_COMMITTED);
    assert_int_equal(F.res.as_unknown, 0);
}

static void test_outcome_of_every_status(void **state)
{
    assert_int_equal(kanal_kit_outcome_of(0), KANAL_KIT_COMMITTED);
    assert_int_equal(kanal_kit_outcome_of(1), KANAL_KIT_COMMITTED);
    assert_int_equal(kanal_kit_outcome_of(KANAL_ERECORD), KANAL_KIT_FAILED);
    assert_int_equal(kanal_kit_outcome_of(-ENOMEM), KANAL_KIT_FAILED);
    for (int e = KANAL_ELAST; e < KANAL_EBASE; e++)
        if (e != KANAL_ERECORD)
            assert_int_equal(kanal_kit_outcome_of(e), KANAL_KIT_RETRY);
    for (int e = 1; e < 134; e++)
        if (e != ENOMEM)
            assert_int_equal(kanal_kit_outcome_of(-e), KANAL_KIT_RETRY);
}

/* ---- the HTTP answer on the same core ---- */

static void answer_done(void *arg, int status)
{
    assert_ptr_equal(arg, &F);
    F.answer_done_calls++;
    F.answer_done_status = status;
}

static int emit_answer(const char *body, const struct kanal_kit_answer *a)
{
    static struct kanal_http_request req = {.remote_addr = "192.0.2.1"};
    req.body = body;
    req.body_len = strlen(body);
    return kanal_kit_emit_answer(&host, NULL, &req, body, strlen(body), NULL, 0, a);
}

static void test_answer_follows_the_outcome(void **state)
{
    const struct kanal_kit_answer a = {
        .unknown_json = UNKNOWN, .unknown_status = 202, .done = answer_done, .done_arg = &F};
    /* committed: 200 with the seqs, after the commit only */
    assert_int_equal(emit_answer("{\"a\":1}", &a), 0);
    assert_int_equal(F.answers, 0);
    const uint64_t seqs[] = {5};
    commit(0, 0, seqs, 1);
    assert_int_equal(F.answers, 1);
    assert_int_equal(F.http_status, 200);
    assert_string_equal(F.http_body, "{\"seqs\":[5]}");
    assert_int_equal(F.answer_done_calls, 1);
    assert_int_equal(F.answer_done_status, 0);
    /* refused: kept as unknown, 202 */
    reset(NULL);
    F.script[0] = KANAL_ERECORD;
    assert_int_equal(emit_answer("{\"a\":1}", &a), 1);
    assert_string_equal(F.calls[1].json, UNKNOWN);
    assert_int_equal(F.calls[1].nstates, 0);
    commit(1, 0, seqs, 1);
    assert_int_equal(F.answers, 1);
    assert_int_equal(F.http_status, 202);
    assert_string_equal(F.http_body, "{\"seqs\":[5],\"stored_as\":\"unknown\"}");
    /* busy store in the commit: 503 with Retry-After */
    reset(NULL);
    assert_int_equal(emit_answer("{\"a\":1}", &a), 0);
    commit(0, KANAL_ESTORE, NULL, 0);
    assert_int_equal(F.answers, 1);
    assert_int_equal(F.http_status, 503);
    assert_string_equal(F.retry_after, "5");
    assert_non_null(strstr(F.http_body, "store_unavailable"));
    assert_int_equal(F.answer_done_calls, 1);
    assert_int_equal(F.answer_done_status, KANAL_ESTORE);
    /* busy store at once: 503 now, done not called */
    reset(NULL);
    F.script[0] = KANAL_ESTOPPED;
    assert_int_equal(emit_answer("{\"a\":1}", &a), KANAL_ESTOPPED);
    assert_int_equal(F.answers, 1);
    assert_int_equal(F.http_status, 503);
    assert_int_equal(F.answer_done_calls, 0);
    /* refused without a fallback: 422 */
    reset(NULL);
    const struct kanal_kit_answer plain = {0};
    F.script[0] = KANAL_ERECORD;
    assert_int_equal(emit_answer("{\"a\":1}", &plain), KANAL_ERECORD);
    assert_int_equal(F.answers, 1);
    assert_int_equal(F.http_status, 422);
    assert_non_null(strstr(F.http_body, "unstorable"));
    /* refused in the commit, no fallback: 422 too */
    reset(NULL);
    assert_int_equal(emit_answer("{\"a\":1}", &plain), 0);
    commit(0, KANAL_ERECORD, NULL, 0);
    assert_int_equal(F.answers, 1);
    assert_int_equal(F.http_status, 422);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_committed_calls_done_later_with_the_seqs, reset),
        cmocka_unit_test_setup(test_refused_by_emit_keeps_the_prepared_fallback_with_its_states,
                               reset),
        cmocka_unit_test_setup(test_refused_in_the_commit_builds_the_fallback_then, reset),
        cmocka_unit_test_setup(test_store_errors_are_retry_later, reset),
        cmocka_unit_test_setup(test_refused_without_fallback_fails, reset),
        cmocka_unit_test_setup(test_fallback_refused_too_fails_once, reset),
        cmocka_unit_test_setup(test_fallback_that_cannot_be_built_fails, reset),
        cmocka_unit_test_setup(test_nothing_to_emit_is_refused, reset),
        cmocka_unit_test_setup(test_outcome_of_every_status, reset),
        cmocka_unit_test_setup(test_answer_follows_the_outcome, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
