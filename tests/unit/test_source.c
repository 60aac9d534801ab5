/* SPDX-License-Identifier: Apache-2.0 */
/* The runtime on its narrow contexts alone: a struct source_set and struct
 * host_env over a real store, writer and loop, filled the way main.c fills
 * them, with no struct daemon and no HTTP server.  The config's source,
 * processor and sink start; an emit through the host API runs the
 * processor, is committed, counted through the count_records hook and
 * delivered to the sink; a reload that drops the processor stores the next
 * record without its annotation; at the end every source is destroyed. */
#include "unit.h"

#include <jansson.h>
#include <lmdb.h>

#include "config.h"
#include "error.h"
#include "host.h"
#include "jarena.h"
#include "loader.h"
#include "source.h"
#include "stages.h"
#include "store.h"
#include "writer.h"

struct fixture {
    char *dir, *conf, *sink_path;
    uv_loop_t loop;
    struct loader loader;
    struct config *cfg;
    struct store store;
    struct writer writer;
    int writer_running;
    struct outbox *outbox;             /* none: the host API copes */
    struct transfer_engine *transfers; /* none */
    struct host_env host;
    struct source_set set;
    int counted; /* count_records calls */
    int emitted; /* emit callbacks */
    int emit_status;
    uint64_t emit_seq;
};

/* The metrics pointer the hook must be handed: the fixture itself. */
static void count_records(struct metrics *m, const char *source_name,
                          const struct write_item *item)
{
    struct fixture *f = (struct fixture *)m;
    assert_non_null(source_name);
    f->counted += (int)item->nnew;
}

static void after_commits(void *arg)
{
    struct fixture *f = arg;
    stages_wake_sinks(&f->set);
}

static const char *plugin_dir(void)
{
    const char *d = getenv("KANAL_TEST_PLUGINS");
    if (!d || !*d) {
        print_message("KANAL_TEST_PLUGINS is not set: skipping (make unit sets it)\n");
        skip();
    }
    return d;
}

/* The config: one echo source, a processor (unless without_processor), a
 * sink writing seqs to f->sink_path. */
static struct config *load_config(struct fixture *f, int without_processor)
{
    char text[2048];
    snprintf(text, sizeof text,
             "[kanald]\nplugin_dir = %s\nstore = store\n\n"
             "[source e1]\nplugin = echo\ngreeting = hi\n\n"
             "%s"
             "[sink out]\nplugin = stages\npath = %s\n",
             plugin_dir(), without_processor ? "" : "[processor tag]\nplugin = stages\n\n",
             f->sink_path);
    free(f->conf);
    f->conf = unit_write_file(f->dir, "kanal.conf", text);
    struct config *cfg;
    struct config_errors errs = {0};
    int r = config_load(f->conf, &f->loader, &cfg, &errs);
    for (size_t i = 0; i < errs.n; i++)
        print_message("%s\n", errs.lines[i]);
    config_errors_free(&errs);
    assert_int_equal(r, 0);
    return cfg;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = unit_tempdir();
    f->sink_path = unit_path(f->dir, "sink.txt");
    *state = f;
    f->cfg = load_config(f, 0);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    char err[512];
    char *store_dir = unit_path(f->dir, "store");
    int r = store_open(&f->store, store_dir, SYNC_NONE, 0, err, sizeof err);
    free(store_dir);
    if (r)
        fail_msg("store_open: %d: %s", r, err);
    f->store.identity = f->cfg->identity;
    f->store.max_candidates = f->cfg->max_merge_candidates;
    assert_int_equal(writer_start(&f->writer, &f->loop, &f->store), 0);
    f->writer_running = 1;
    f->writer.after_completions = after_commits;
    f->writer.after_arg = f;
    /* What main.c does, with the fixture's own members. */
    f->host = (struct host_env){.loop = &f->loop,
                                .store = &f->store,
                                .writer = &f->writer,
                                .writer_running = &f->writer_running,
                                .outbox = &f->outbox,
                                .transfers = &f->transfers,
                                .metrics = (struct metrics *)f,
                                .count_records = count_records};
    f->set = (struct source_set){.cfg = &f->cfg,
                                 .host = &f->host,
                                 .api = &host_api,
                                 .close_handles = host_close_handles,
                                 .free_stage = stages_free};
    source_start_all(&f->set);
    stages_start(&f->set);
    return 0;
}

static void on_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->cfg) {
        while (f->set.nsources)
            source_retire(f->set.sources[f->set.nsources - 1]);
        stages_stop_all(&f->set);
        writer_stop(&f->writer);
        f->writer_running = 0;
        uv_walk(&f->loop, on_walk_close, NULL);
        uv_run(&f->loop, UV_RUN_DEFAULT);
        /* Nothing pending is left: every source was destroyed. */
        assert_null(f->set.retired);
        free(f->set.sources);
        assert_int_equal(uv_loop_close(&f->loop), 0);
        store_close(&f->store);
        config_free(f->cfg);
    }
    loader_free(&f->loader);
    unit_rmtree(f->dir);
    free(f->conf);
    free(f->sink_path);
    free(f);
    return 0;
}

static void on_emitted(void *arg, int status, const uint64_t *seqs, size_t n)
{
    struct fixture *f = arg;
    f->emitted++;
    f->emit_status = status;
    f->emit_seq = n ? seqs[0] : 0;
}

/* Emit one message as source e1's plugin would; run the loop until the
 * commit is answered.  Returns its seq. */
static uint64_t emit(struct fixture *f, const char *external_id)
{
    struct kanal_source *src = source_find(&f->set, "e1");
    assert_non_null(src);
    char rec[256];
    int len = snprintf(rec, sizeof rec,
                       "{\"kind\":\"message\",\"direction\":\"inbound\",\"external_id\":\"%s\","
                       "\"occurred_at\":\"2026-11-23T10:00:00.000Z\","
                       "\"from\":{\"handle\":\"email:ayse@example.com\"},\"text\":\"hello\"}",
                       external_id);
    int before = f->emitted;
    assert_int_equal(host_api.emit(src, rec, (size_t)len, NULL, 0, on_emitted, f), 0);
    for (int i = 0; i < 1000 && f->emitted == before; i++)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(f->emitted, before + 1);
    assert_int_equal(f->emit_status, 0);
    assert_true(f->emit_seq > 0);
    return f->emit_seq;
}

/* The stored record of seq, parsed. */
static json_t *stored(struct fixture *f, uint64_t seq)
{
    MDB_txn *txn;
    assert_int_equal(store_read_begin(&f->store, &txn), 0);
    MDB_val k = {sizeof seq, &seq}, v;
    assert_int_equal(mdb_get(txn, f->store.log, &k, &v), 0);
    json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
    store_read_end(&f->store, txn);
    assert_non_null(rec);
    return rec;
}

static char *read_file(const char *path)
{
    static char buf[256];
    FILE *fp = fopen(path, "r");
    if (!fp)
        return "";
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return buf;
}

static void test_emit_runs_the_pipeline_on_the_set_alone(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(f->set.nsources, 1);
    assert_int_equal(f->set.nprocs, 1);
    assert_int_equal(f->set.nsinks, 1);
    assert_null(source_find(&f->set, "tag")); /* a processor is no source */
    assert_null(source_find(&f->set, "nope"));

    uint64_t seq = emit(f, "m1");
    json_t *rec = stored(f, seq);
    assert_string_equal(json_string_value(json_object_get(rec, "external_id")), "m1");
    assert_string_equal(json_string_value(json_object_get(rec, "source")), "e1");
    /* The processor ran before the commit. */
    json_t *ann = json_object_get(json_object_get(rec, "annotations"), "tag");
    assert_non_null(ann);
    assert_int_equal(json_integer_value(json_object_get(ann, "n")), 1);
    json_decref(rec);
    /* The hook was handed the host environment's metrics. */
    assert_int_equal(f->counted, 1);
    assert_int_equal(source_find(&f->set, "e1")->records, 1);
    /* The sink got the committed seq. */
    char want[32];
    snprintf(want, sizeof want, "%llu\n", (unsigned long long)seq);
    assert_string_equal(read_file(f->sink_path), want);

    /* The same record again is a duplicate: stored once, counted once. */
    assert_int_equal(emit(f, "m1"), seq);
    assert_int_equal(f->counted, 1);
    assert_int_equal(source_find(&f->set, "e1")->duplicates, 1);
}

static void test_reload_follows_the_new_config(void **state)
{
    struct fixture *f = *state;
    struct kanal_source *e1 = source_find(&f->set, "e1");
    struct config *next = load_config(f, 1);
    source_apply(&f->set, next);
    stages_apply(&f->set, next);
    config_free(f->cfg);
    f->cfg = next;
    /* e1's section did not change: the same source runs on. */
    assert_ptr_equal(source_find(&f->set, "e1"), e1);
    assert_int_equal(f->set.nprocs, 0);
    assert_int_equal(f->set.nsinks, 1);

    uint64_t seq = emit(f, "m2");
    json_t *rec = stored(f, seq);
    assert_null(json_object_get(rec, "annotations"));
    json_decref(rec);
}

static void test_stopping_the_writer_refuses_emits(void **state)
{
    struct fixture *f = *state;
    struct kanal_source *src = source_find(&f->set, "e1");
    /* host_env reads main's writer_running through its pointer. */
    f->writer_running = 0;
    assert_int_equal(host_api.emit(src, "{}", 2, NULL, 0, on_emitted, f), KANAL_ESTOPPED);
    f->writer_running = 1;
}

int main(void)
{
    jarena_setup(); /* as kanald does: emits keep their records in arenas */
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_emit_runs_the_pipeline_on_the_set_alone),
        T(test_reload_follows_the_new_config),
        T(test_stopping_the_writer_refuses_emits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
