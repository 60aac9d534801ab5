/* SPDX-License-Identifier: Apache-2.0 */
/* The configuration file: every mistake is found, with its line. */
#include "unit.h"

#include <stdbool.h>

#include "config.h"
#include "loader.h"
#include "log.h"

struct fixture {
    char *dir;
    char *path; /* dir/kanal.conf once written */
    struct loader loader;
    struct config *cfg;
    struct config_errors errs;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = unit_tempdir();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    config_free(f->cfg);
    config_errors_free(&f->errs);
    loader_free(&f->loader);
    free(f->path);
    unit_rmtree(f->dir);
    free(f);
    return 0;
}

/* Write text as dir/kanal.conf and load it. */
static int load(struct fixture *f, const char *text)
{
    config_free(f->cfg);
    f->cfg = NULL;
    config_errors_free(&f->errs);
    free(f->path);
    f->path = unit_write_file(f->dir, "kanal.conf", text);
    int r = config_load(f->path, &f->loader, &f->cfg, &f->errs);
    if (r == 0) {
        assert_non_null(f->cfg);
        assert_int_equal(f->errs.n, 0);
    } else {
        assert_int_equal(r, KANAL_ECONFIG);
        assert_null(f->cfg);
        assert_true(f->errs.n > 0);
    }
    return r;
}

static void print_errors(const struct fixture *f)
{
    for (size_t i = 0; i < f->errs.n; i++)
        print_message("    %s\n", f->errs.lines[i]);
}

static void expect_ok(struct fixture *f, const char *text)
{
    if (load(f, text) != 0) {
        print_errors(f);
        fail_msg("config refused:\n%s", text);
    }
}

/* An error line "PATH:LINE: ..." that contains every needle. */
static void expect_error(struct fixture *f, int line, const char *needle1, const char *needle2)
{
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s:%d: ", f->path, line);
    for (size_t i = 0; i < f->errs.n; i++) {
        const char *e = f->errs.lines[i];
        if (strncmp(e, prefix, strlen(prefix)) == 0 && strstr(e, needle1) &&
            (!needle2 || strstr(e, needle2)))
            return;
    }
    print_errors(f);
    fail_msg("no error at line %d mentioning '%s'%s%s%s", line, needle1, needle2 ? " and '" : "",
             needle2 ? needle2 : "", needle2 ? "'" : "");
}

/* Load text, expect it refused with one error at line naming needle. */
static void expect_refused(struct fixture *f, const char *text, int line, const char *needle1,
                           const char *needle2)
{
    if (load(f, text) == 0)
        fail_msg("config accepted:\n%s", text);
    expect_error(f, line, needle1, needle2);
}

/* ---- [kanald], [api] and the file as a whole ---- */

static void test_unknown_key_with_line(void **state)
{
    struct fixture *f = *state;
    expect_refused(f,
                   "; kanald test config\n"
                   "[kanald]\n"
                   "listen = 127.0.0.1:9000\n"
                   "\n"
                   "colour = blue\n",
                   5, "'colour'", "[kanald]");
    assert_int_equal(f->errs.n, 1);
}

static void test_bad_value_type_with_line(void **state)
{
    struct fixture *f = *state;
    expect_refused(f, "[kanald]\nsync = none\nmax_body = lots\n", 3, "max_body", "lots");
    expect_refused(f, "[kanald]\nheader_timeout = soon\n", 2, "header_timeout", NULL);
    expect_refused(f, "[kanald]\n\nmax_connections = many\n", 3, "max_connections", NULL);
    expect_refused(f, "[kanald]\nmax_connections = 0\n", 2, "max_connections", NULL);
    expect_refused(f, "[kanald]\nlog_level = loud\n", 2, "log_level", NULL);
}

static void test_every_error_reported(void **state)
{
    struct fixture *f = *state;
    expect_refused(f,
                   "[kanald]\n"
                   "colour = blue\n"
                   "max_body = lots\n"
                   "flavour = mint\n",
                   2, "'colour'", NULL);
    expect_error(f, 3, "max_body", NULL);
    expect_error(f, 4, "'flavour'", NULL);
    assert_int_equal(f->errs.n, 3);
}

static void test_unknown_section(void **state)
{
    struct fixture *f = *state;
    expect_refused(f,
                   "[kanald]\n"
                   "listen = 127.0.0.1:9000\n"
                   "\n"
                   "[bogus]\n"
                   "x = 1\n",
                   4, "[bogus]", NULL);
    expect_refused(f, "[kanald]\nsync = full\n[Kanald]\nsync = none\n", 3, "[Kanald]", NULL);
}

static void test_key_outside_section(void **state)
{
    struct fixture *f = *state;
    expect_refused(f, "; top\nlisten = 127.0.0.1:9000\n[kanald]\n", 2, "listen", "outside");
}

static void test_duplicate_key(void **state)
{
    struct fixture *f = *state;
    expect_refused(f,
                   "[kanald]\n"
                   "sync = full\n"
                   "max_body = 2M\n"
                   "sync = none\n",
                   4, "'sync'", "line 2");
}

static void test_duplicate_section(void **state)
{
    struct fixture *f = *state;
    expect_refused(f,
                   "[kanald]\n"
                   "sync = full\n"
                   "[api]\n"
                   "tokens = t\n"
                   "[kanald]\n"
                   "max_body = 2M\n",
                   5, "[kanald]", "line 1");
    /* Repeated right after itself, too: never silently merged. */
    expect_refused(f,
                   "[kanald]\n"
                   "sync = full\n"
                   "[kanald]\n"
                   "max_body = 2M\n",
                   3, "[kanald]", "line 1");
}

static void test_sync_values(void **state)
{
    struct fixture *f = *state;
    expect_refused(f, "[kanald]\nsync = maybe\n", 2, "sync", "maybe");
    expect_ok(f, "[kanald]\nsync = meta\n");
    assert_int_equal(f->cfg->sync, SYNC_META);
    expect_ok(f, "[kanald]\nsync = none\n");
    assert_int_equal(f->cfg->sync, SYNC_NONE);
    expect_ok(f, "[kanald]\nsync = full\n");
    assert_int_equal(f->cfg->sync, SYNC_FULL);
}

static void test_listen(void **state)
{
    struct fixture *f = *state;
    expect_refused(f, "[kanald]\nlisten = 127.0.0.1\n", 2, "listen", NULL);
    expect_refused(f, "[kanald]\n\nlisten = 127.0.0.1:\n", 3, "listen", NULL);
    expect_refused(f, "[kanald]\nlisten = 127.0.0.1:http\n", 2, "listen", NULL);
    expect_refused(f, "[kanald]\nlisten = 127.0.0.1:70000\n", 2, "listen", NULL);
    expect_refused(f, "[kanald]\nlisten = :8470\n", 2, "listen", NULL);
    expect_ok(f, "[kanald]\nlisten = 0.0.0.0:9001\n");
    assert_string_equal(f->cfg->listen_host, "0.0.0.0");
    assert_int_equal(f->cfg->listen_port, 9001);
    expect_ok(f, "[kanald]\nlisten = [::1]:8471\n");
    assert_string_equal(f->cfg->listen_host, "::1");
    assert_int_equal(f->cfg->listen_port, 8471);
}

static void test_defaults_without_kanald(void **state)
{
    struct fixture *f = *state;
    expect_ok(f, "; nothing but a comment\n");
    const struct config *c = f->cfg;
    assert_string_equal(c->listen_host, "127.0.0.1");
    assert_int_equal(c->listen_port, 8470);
    assert_int_equal(c->max_body, 1048576);
    assert_int_equal(c->max_header, 16384);
    assert_int_equal(c->sync, SYNC_FULL);
    assert_string_equal(c->store, "/var/lib/kanal");
    assert_int_equal(c->max_connections, 1024);
    assert_int_equal(c->header_timeout_ms, 10000);
    assert_int_equal(c->request_timeout_ms, 30000);
    assert_int_equal(c->idle_timeout_ms, 60000);
    assert_int_equal(c->shutdown_timeout_ms, 10000);
    assert_int_equal(c->log_level, KANAL_LOG_INFO);
    assert_null(c->api_tokens);
    assert_int_equal(c->nsources, 0);
    assert_string_equal(c->path, f->path);

    expect_ok(f, "[kanald]\nmax_body = 64K\nidle_timeout = 5\nlog_level = debug\n");
    assert_int_equal(f->cfg->max_body, 65536);
    assert_int_equal(f->cfg->idle_timeout_ms, 5000);
    assert_int_equal(f->cfg->log_level, KANAL_LOG_DEBUG);
    assert_string_equal(f->cfg->listen_host, "127.0.0.1"); /* the rest keeps its default */
}

/* The scores' thresholds: the defaults are score_params_default()'s, a
 * value is read into cfg->score, and one out of its bounds is refused with
 * its line. */
static void test_score_keys(void **state)
{
    struct fixture *f = *state;
    expect_ok(f, "; nothing\n");
    struct score_params want;
    score_params_default(&want);
    assert_memory_equal(&f->cfg->score, &want, sizeof want);
    assert_int_equal(f->cfg->score.unanswered_ms, 24 * 3600000LL);
    assert_int_equal(f->cfg->score.advocate_min, 3);
    expect_ok(f, "[kanald]\nscore_unanswered_after = 2h\nscore_key_influence = 300\n"
                 "score_critic_share = 0\nscore_cohesive_brand = 100\n");
    assert_int_equal(f->cfg->score.unanswered_ms, 7200000);
    assert_int_equal(f->cfg->score.key_influence, 300);
    assert_int_equal(f->cfg->score.critic_share, 0);
    assert_int_equal(f->cfg->score.cohesive_brand, 100);
    assert_int_equal(f->cfg->score.risk_window_ms, want.risk_window_ms); /* the rest kept */
    expect_refused(f, "[kanald]\nscore_critic_share = 101\n", 2, "score_critic_share",
                   "0 to 100");
    expect_refused(f, "[kanald]\n\nscore_advocate_min = 0\n", 3, "score_advocate_min", NULL);
    expect_refused(f, "[kanald]\nscore_risk_min = -1\n", 2, "score_risk_min", NULL);
    expect_refused(f, "[kanald]\nscore_unanswered_after = 0\n", 2, "score_unanswered_after",
                   NULL);
    expect_refused(f, "[kanald]\nscore_polarized_cross = lots\n", 2, "score_polarized_cross",
                   NULL);
    expect_refused(f, "[kanald]\nscore_critic_echoes = 0\n", 2, "score_critic_echoes", NULL);
    expect_refused(f, "[kanald]\nscore_polarized_camps = 200\n", 2, "score_polarized_camps",
                   "0 to 100");
}

static void test_relative_paths(void **state)
{
    struct fixture *f = *state;
    expect_ok(f, "[kanald]\nstore = data/store\nplugin_dir = ../plugins\n"
                 "[api]\ntokens = api-tokens\n");
    char *want = unit_path(f->dir, "data/store");
    assert_string_equal(f->cfg->store, want);
    free(want);
    want = unit_path(f->dir, "../plugins");
    assert_string_equal(f->cfg->plugin_dir, want);
    free(want);
    want = unit_path(f->dir, "api-tokens");
    assert_string_equal(f->cfg->api_tokens, want);
    free(want);
    expect_ok(f, "[kanald]\nstore = /srv/kanal\n");
    assert_string_equal(f->cfg->store, "/srv/kanal");
}

static void test_missing_file(void **state)
{
    struct fixture *f = *state;
    char *path = unit_path(f->dir, "nope.conf");
    assert_int_equal(config_load(path, &f->loader, &f->cfg, &f->errs), KANAL_ECONFIG);
    assert_null(f->cfg);
    assert_int_equal(f->errs.n, 1);
    assert_non_null(strstr(f->errs.lines[0], path));
    free(path);
}

/* ---- [source NAME] sections, checked against a plugin's option table ---- */

/* The test plugins' directory, or skip the test. */
static const char *plugin_dir(void)
{
    const char *d = getenv("KANAL_TEST_PLUGINS");
    if (!d || !*d) {
        print_message("KANAL_TEST_PLUGINS is not set: skipping (make unit sets it)\n");
        skip();
    }
    return d;
}

/* A config with one [source s1] section (header on line 5) holding body. */
static char *source_config(const char *body)
{
    const char *dir = plugin_dir();
    size_t n = strlen(dir) + strlen(body) + 128;
    char *text = malloc(n);
    assert_non_null(text);
    snprintf(text, n,
             "[kanald]\n"           /* 1 */
             "plugin_dir = %s\n"    /* 2 */
             "store = store\n"      /* 3 */
             "\n"                   /* 4 */
             "[source s1]\n"        /* 5 */
             "%s",                  /* 6... */
             dir, body);
    return text;
}

static void source_ok(struct fixture *f, const char *body)
{
    char *text = source_config(body);
    expect_ok(f, text);
    free(text);
    assert_non_null(config_find_source(f->cfg, "s1"));
}

static void source_refused(struct fixture *f, const char *body, int line, const char *needle1,
                           const char *needle2)
{
    char *text = source_config(body);
    expect_refused(f, text, line, needle1, needle2);
    free(text);
}

static const struct option_value *value(struct fixture *f, const char *name)
{
    const struct source_config *sc = config_find_source(f->cfg, "s1");
    assert_non_null(sc);
    const struct option_value *v = source_config_value(sc, name);
    if (!v)
        fail_msg("source s1 has no option '%s'", name);
    return v;
}

static void test_source_valid_with_defaults(void **state)
{
    struct fixture *f = *state;
    plugin_dir();
    source_ok(f, "plugin = echo\n"
                 "greeting = hello there\n"
                 "count = 7\n"
                 "default_country = TR\n"
                 "public_url = https://crm.example.com/hooks/s1\n");
    const struct source_config *sc = config_find_source(f->cfg, "s1");
    assert_non_null(sc);
    assert_int_equal(f->cfg->nsources, 1);
    assert_string_equal(sc->name, "s1");
    assert_int_equal(sc->line, 5);
    assert_non_null(sc->module);
    assert_string_equal(sc->module->desc->name, "echo");
    assert_string_equal(sc->default_country, "TR");
    assert_string_equal(sc->public_url, "https://crm.example.com/hooks/s1");
    assert_int_equal(sc->keep_raw, 0);
    assert_string_equal(value(f, "greeting")->text, "hello there");
    assert_int_equal(value(f, "greeting")->line, 7);
    assert_int_equal(value(f, "count")->num, 7);
    assert_int_equal(value(f, "interval")->num, 30000); /* default 30s */
    assert_int_equal(value(f, "interval")->line, 0);
    assert_string_equal(value(f, "mode")->text, "a");
    assert_int_equal(value(f, "token")->set, 0);
    assert_null(config_find_source(f->cfg, "s2"));
}

static void test_source_missing_required(void **state)
{
    struct fixture *f = *state;
    plugin_dir();
    source_refused(f, "plugin = echo\ncount = 2\n", 5, "'greeting'", "s1");
    assert_int_equal(f->errs.n, 1);
}

static void test_source_bad_options(void **state)
{
    struct fixture *f = *state;
    plugin_dir();
    source_refused(f, "plugin = echo\ngreeting = hi\ncolour = red\n", 8, "'colour'", "echo");
    source_refused(f, "plugin = echo\ngreeting = hi\ncount = many\n", 8, "count", "many");
    source_refused(f, "plugin = echo\ngreeting = hi\n\nmode = c\n", 9, "mode", NULL);
    source_refused(f, "plugin = echo\ngreeting = hi\ninterval = often\n", 8, "interval", NULL);
    source_refused(f, "plugin = echo\ngreeting = hi\nkeep_raw = perhaps\n", 8, "keep_raw", NULL);
    source_refused(f, "plugin = echo\ngreeting = hi\npublic_url = crm.example.com/x\n", 8,
                   "public_url", NULL);
    source_refused(f, "plugin = echo\ngreeting = hi\ndefault_country = XX\n", 8,
                   "default_country", NULL);
    source_refused(f, "greeting = hi\n", 5, "plugin", NULL);
}

static void test_source_secret_file(void **state)
{
    struct fixture *f = *state;
    plugin_dir();
    char *secret = unit_write_file(f->dir, "token", "s3cret\n");
    char body[4500];
    snprintf(body, sizeof body, "plugin = echo\ngreeting = hi\ntoken = file:%s\n", secret);
    source_ok(f, body);
    assert_string_equal(value(f, "token")->text, "s3cret");
    assert_int_equal(value(f, "token")->set, 1);
    assert_int_equal(value(f, "token")->line, 8);
    free(secret);

    source_refused(f, "plugin = echo\ngreeting = hi\ntoken = file:/nonexistent\n", 8,
                   "/nonexistent", "token");
}

static void test_source_secret_env(void **state)
{
    struct fixture *f = *state;
    plugin_dir();
    unsetenv("KANAL_UNSET_VAR_X");
    source_refused(f, "plugin = echo\ngreeting = hi\ntoken = env:KANAL_UNSET_VAR_X\n", 8,
                   "KANAL_UNSET_VAR_X", NULL);
    setenv("KANAL_UNIT_TOKEN", "from-env", 1);
    source_ok(f, "plugin = echo\ngreeting = hi\ntoken = env:KANAL_UNIT_TOKEN\n");
    assert_string_equal(value(f, "token")->text, "from-env");
    unsetenv("KANAL_UNIT_TOKEN");
}

static void test_source_secret_inline(void **state)
{
    struct fixture *f = *state;
    plugin_dir();
    source_refused(f, "plugin = echo\ngreeting = hi\ntoken = literal\n", 8, "token", "inline");
    source_refused(f,
                   "plugin = echo\ngreeting = hi\ntoken = literal\ninsecure_inline_secrets = no\n",
                   8, "token", "inline");
    /* The switch applies wherever it is written in the section. */
    source_ok(f, "plugin = echo\ngreeting = hi\ntoken = literal\ninsecure_inline_secrets = yes\n");
    assert_string_equal(value(f, "token")->text, "literal");
}

static void test_source_secret_credential(void **state)
{
    struct fixture *f = *state;
    plugin_dir();
    char *creds = unit_path(f->dir, "creds");
    assert_int_equal(mkdir(creds, 0700), 0);
    char *file = unit_write_file(creds, "echo-token", "from-cred\r\n");
    setenv("CREDENTIALS_DIRECTORY", creds, 1);
    source_ok(f, "plugin = echo\ngreeting = hi\ntoken = cred:echo-token\n");
    assert_string_equal(value(f, "token")->text, "from-cred");
    source_refused(f, "plugin = echo\ngreeting = hi\ntoken = cred:missing\n", 8, "token",
                   "missing");
    unsetenv("CREDENTIALS_DIRECTORY");
    source_refused(f, "plugin = echo\ngreeting = hi\ntoken = cred:echo-token\n", 8, "token",
                   "CREDENTIALS_DIRECTORY");
    free(file);
    free(creds);
}

static void test_source_unknown_plugin(void **state)
{
    struct fixture *f = *state;
    plugin_dir();
    source_refused(f, "greeting = hi\nplugin = nosuch\n", 7, "'nosuch'", NULL);
}

static void test_source_refused_plugin(void **state)
{
    struct fixture *f = *state;
    plugin_dir();
    source_refused(f, "plugin = badmajor\ngreeting = hi\n", 6, "'badmajor'", "refused");
    expect_error(f, 6, "badmajor.so", "major");
}

static void test_source_two_sections(void **state)
{
    struct fixture *f = *state;
    plugin_dir();
    source_ok(f, "plugin = echo\ngreeting = one\n"
                 "[source s2]\nplugin = echo\ngreeting = two\nmode = b\n");
    assert_int_equal(f->cfg->nsources, 2);
    const struct source_config *s2 = config_find_source(f->cfg, "s2");
    assert_non_null(s2);
    assert_int_equal(s2->line, 8);
    assert_string_equal(source_config_value(s2, "mode")->text, "b");
    assert_false(source_config_equal(&f->cfg->sources[0], s2));
    assert_true(source_config_equal(s2, s2));

    source_refused(f, "plugin = echo\ngreeting = one\n[source s1]\nplugin = echo\ngreeting = 2\n",
                   8, "s1", "line 5");
}


/* A processor's match: FIELD:VALUE[,VALUE...] words over source, channel, kind. */
static void test_match_syntax(void **state)
{
    (void)state;
    const char *good[] = {"source:wa-main", "channel:email kind:message,comment",
                          "  kind:message\tsource:a,b,c  ", ""};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_null(config_match_check(good[i]));
    const char *bad[] = {"wa-main", "colour:red", "kind:", "kind message", "sourcex:a",
                         ":message"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_non_null(config_match_check(bad[i]));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    /* The loader logs every refused test plugin; the tests check the
     * refusals through the config errors instead. */
    log_setup(KANAL_LOG_ERR - 1, 0);
    const struct CMUnitTest tests[] = {
        T(test_unknown_key_with_line),
        T(test_match_syntax),
        T(test_bad_value_type_with_line),
        T(test_every_error_reported),
        T(test_unknown_section),
        T(test_key_outside_section),
        T(test_duplicate_key),
        T(test_duplicate_section),
        T(test_sync_values),
        T(test_listen),
        T(test_defaults_without_kanald),
        T(test_score_keys),
        T(test_relative_paths),
        T(test_missing_file),
        T(test_source_valid_with_defaults),
        T(test_source_missing_required),
        T(test_source_bad_options),
        T(test_source_secret_file),
        T(test_source_secret_env),
        T(test_source_secret_inline),
        T(test_source_secret_credential),
        T(test_source_unknown_plugin),
        T(test_source_refused_plugin),
        T(test_source_two_sections),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
