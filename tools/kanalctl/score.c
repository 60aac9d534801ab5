/* SPDX-License-Identifier: Apache-2.0 */
/* kanalctl score: an audience's scores as a table, JSON or CSV, and its
 * interaction network as an SVG picture (score_svg.c).
 *
 * The scores kanald keeps in the store ('scores' database, read with
 * score_get) are printed as they are; when it keeps none for the audience
 * (or with --compute) they are computed here with kanald's own scoring run
 * (daemon/score/run.h, linked from the daemon's objects) for that audience
 * alone, on the store as it is: the store is never written.  The picture
 * needs the graph's edges, which the kept document does not hold, so --svg
 * always runs the computing and draws from the graph it hands over. */
#include "score.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "contacts.h"
#include "jarena.h"
#include "keep.h"
#include "reader_int.h"
#include "result.h"
#include "run.h"
#include "store.h"
#include "util.h"

static int run(struct ctl *ctl, int argc, char **argv);

const struct ctl_command ctl_score = {
    "score",
    "an audience's scores (influence, k-core, reach...) as a table, JSON, CSV or SVG",
    "usage: kanalctl [-s STORE] score --audience ID [--top N] [--format table|json|csv]\n"
    "                [--compute] [--config FILE] [--half-life DURATION] [--svg FILE]\n"
    "                [--svg-nodes N]\n"
    "\n"
    "Print the scores of one audience, most influential contact first: the contact,\n"
    "its name (or first handle), influence (PageRank personalized on the audience's\n"
    "members, times the number of nodes: 1 is the average), k-core index, reach (the\n"
    "distinct members who answered, reacted to or shared its content), in- and\n"
    "out-degree, and value, advocacy, risk and position when the scores hold them.\n"
    "\n"
    "The scores kanald keeps in the store are printed as they are (their seq says\n"
    "which snapshot they were computed on).  When kanald keeps none for the audience,\n"
    "or with --compute, kanalctl computes them itself on a read snapshot of the store\n"
    "with kanald's scoring code; the store is never written.\n"
    "\n"
    "ID is an audience's id: all, source:NAME, channel:NAME, campaign:ID, event:ID,\n"
    "thread:ID, or an [audience NAME]'s name (kept by kanald, or computed with\n"
    "--config, which gives its match words).\n"
    "\n"
    "Options:\n"
    "      --audience ID     the audience (required)\n"
    "      --top N           the N most influential contacts (default 20; 0: all)\n"
    "      --format F        table (default), json (the scores document, its contacts\n"
    "                        cut to the top N, each with name and handle) or csv\n"
    "                        (RFC 4180, a header row)\n"
    "      --compute         compute the scores even when kanald keeps some\n"
    "      --config FILE     computing: kanald's configuration ($KANAL_CONFIG when\n"
    "                        set), so that the scores are made as kanald makes them:\n"
    "                        its score_* thresholds, score_half_life,\n"
    "                        score_event_window and [audience NAME] sections (only\n"
    "                        [kanald] and [audience] are read; secrets and plugins\n"
    "                        are not); without it, the built-in defaults\n"
    "      --half-life D     computing: an interaction D old weighs half as much as\n"
    "                        one made now (default: the config's score_half_life, else\n"
    "                        30d; 0: no decay)\n"
    "      --svg FILE        also draw the audience's interaction network into FILE\n"
    "                        (Graphviz, sfdp layout): node size by influence; green an\n"
    "                        advocate, red at risk, orange a critic, grey neither (or\n"
    "                        not scored); the top N labelled by name; edge width by\n"
    "                        weight; the brand a blue box\n"
    "      --svg-nodes N     draw at most the N most influential contacts (default\n"
    "                        2000; 0: all); a larger graph takes sfdp minutes\n"
    "  -s, --store DIR       the store directory (default: $KANAL_STORE, else\n"
    "                        /var/lib/kanal)\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit status: 0 success; 1 an unknown audience (no scores kept and no record\n"
    "in it), the store could not be read, or the picture could not be drawn; 2 bad\n"
    "usage, or the store cannot be opened (missing, or of a newer format).\n"
    "\n"
    "Examples:\n"
    "  kanalctl score --audience all --top 10\n"
    "  kanalctl score --audience event:42 --format csv --top 0 > event42.csv\n"
    "  kanalctl score --audience source:fb --svg fb.svg\n",
    run,
};

#define DEFAULT_TOP 20
#define DEFAULT_SVG_NODES 2000
#define NAME_WIDTH 24

enum format { FORMAT_TABLE, FORMAT_JSON, FORMAT_CSV };

/* The store's databases as kanald's code wants them, opened read-only by
 * libkanal: only env and the handles score_collect, contacts_follow,
 * contacts_of_handle and score_get use are set. */
static int store_of_reader(struct kanal_reader *r, struct store *st)
{
    memset(st, 0, sizeof *st);
    /* A computing's chunks take it for reading, as in kanald. */
    pthread_rwlock_init(&st->resize_lock, NULL);
    st->env = kanal__reader_env(r);
    int rc = kanal__reader_dbi(r, KANAL_STORE_DB_LOG, &st->log);
    if (!rc)
        rc = kanal__reader_dbi(r, KANAL_STORE_DB_CONTACTS, &st->contacts);
    if (!rc)
        rc = kanal__reader_dbi(r, KANAL_STORE_DB_HANDLES, &st->handles);
    if (rc)
        return rc;
    /* A store written before scores were kept has no 'scores' database. */
    if (kanal__reader_dbi(r, KANAL_STORE_DB_SCORES, &st->scores))
        st->scores = (MDB_dbi)-1;
    return 0;
}

/* The contact's name (its first) and first handle, added to its row. */
static void name_row(struct store *st, MDB_txn *txn, json_t *row)
{
    const char *id = json_string_value(json_object_get(row, "contact"));
    json_t *c;
    if (!id || contacts_load(st, txn, id, &c) != 0)
        return;
    const char *name = json_string_value(json_array_get(json_object_get(c, "names"), 0));
    const char *handle = json_string_value(
        json_object_get(json_array_get(json_object_get(c, "handles"), 0), "handle"));
    if (name)
        json_object_set_new(row, "name", json_string(name));
    if (handle)
        json_object_set_new(row, "handle", json_string(handle));
    json_decref(c);
}

const char *score_label(json_t *row)
{
    const char *s = json_string_value(json_object_get(row, "name"));
    if (!s)
        s = json_string_value(json_object_get(row, "handle"));
    if (!s)
        s = json_string_value(json_object_get(row, "contact"));
    return s ? s : "";
}

double score_sub(json_t *row, const char *obj, const char *key, int *have)
{
    json_t *v = json_object_get(json_object_get(row, obj), key);
    if (have)
        *have = json_is_number(v);
    return json_number_value(v);
}

/* Which of the value/advocacy/risk/position columns any row has. */
struct extra {
    int value, advocacy, risk, position;
};

static struct extra extras(json_t *rows)
{
    struct extra x = {0};
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        x.value |= json_is_object(json_object_get(row, "value"));
        x.advocacy |= json_is_object(json_object_get(row, "advocacy"));
        x.risk |= json_is_object(json_object_get(row, "risk"));
        x.position |= json_is_string(json_object_get(row, "position"));
    }
    return x;
}

/* s, cut to width characters (UTF-8 aware: never within a character), then
 * padded with spaces to width. */
static void put_padded(const char *s, int width)
{
    int chars = 0;
    const char *p = s;
    while (*p && chars < width) {
        p++;
        while ((*p & 0xC0) == 0x80)
            p++;
        chars++;
    }
    fwrite(s, 1, (size_t)(p - s), stdout);
    for (; chars < width; chars++)
        putchar(' ');
}

/* A number of the row's object, or "-" when it has none. */
static void put_sub(json_t *row, const char *obj, const char *key, const char *fmt, int width)
{
    int have;
    double v = score_sub(row, obj, key, &have);
    if (have)
        printf(fmt, width, v);
    else
        printf("%*s", width, "-");
}

static const char *flag(json_t *row, const char *obj, const char *key, const char *yes)
{
    json_t *v = json_object_get(json_object_get(row, obj), key);
    return json_is_true(v) ? yes : json_is_false(v) ? "no" : "-";
}

static void print_table(json_t *doc, json_t *rows)
{
    json_t *shape = json_object_get(doc, "shape");
    printf("audience %s  seq %lld  %s\n", json_string_value(json_object_get(doc, "audience")),
           (long long)json_integer_value(json_object_get(doc, "seq")),
           json_is_true(json_object_get(doc, "kept")) ? "(kept by kanald)"
                                                      : "(computed by kanalctl)");
    printf("%lld nodes, %lld edges, density %.4g, %lld components (largest %lld), "
           "reciprocity %.3f, brand share %.3f\n\n",
           (long long)json_integer_value(json_object_get(shape, "nodes")),
           (long long)json_integer_value(json_object_get(shape, "edges")),
           json_number_value(json_object_get(shape, "density")),
           (long long)json_integer_value(json_object_get(shape, "components")),
           (long long)json_integer_value(json_object_get(shape, "largest_component")),
           json_number_value(json_object_get(shape, "reciprocity")),
           json_number_value(json_object_get(shape, "brand_share")));
    struct extra x = extras(rows);
    printf("%4s  %-10s  ", "rank", "contact");
    put_padded("name", NAME_WIDTH);
    printf("  %9s %6s %6s %6s %6s", "influence", "k-core", "reach", "in", "out");
    if (x.value)
        printf(" %7s", "value");
    if (x.advocacy)
        printf(" %8s %8s", "advocacy", "advocate");
    if (x.risk)
        printf(" %7s %7s", "risk", "at_risk");
    if (x.position)
        printf("  %-8s", "position");
    putchar('\n');
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        printf("%4zu  %-10s  ", i + 1, json_string_value(json_object_get(row, "contact")));
        put_padded(score_label(row), NAME_WIDTH);
        printf("  %9.3f %6lld %6lld %6lld %6lld",
               json_number_value(json_object_get(row, "influence")),
               (long long)json_integer_value(json_object_get(row, "k_core")),
               (long long)json_integer_value(json_object_get(row, "reach")),
               (long long)json_integer_value(json_object_get(row, "in_degree")),
               (long long)json_integer_value(json_object_get(row, "out_degree")));
        if (x.value)
            put_sub(row, "value", "score", " %*.3f", 7);
        if (x.advocacy) {
            put_sub(row, "advocacy", "score", " %*.3f", 8);
            printf(" %8s", flag(row, "advocacy", "advocate", "yes"));
        }
        if (x.risk) {
            put_sub(row, "risk", "score", " %*.3f", 7);
            printf(" %7s", flag(row, "risk", "at_risk", "yes"));
        }
        if (x.position) {
            const char *pos = json_string_value(json_object_get(row, "position"));
            /* Padded as the other columns: key, ordinary or critic. */
            printf("  %-8s", pos ? pos : "-");
        }
        putchar('\n');
    }
}

static void csv_field(const char *s, int first)
{
    if (!first)
        putchar(',');
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void csv_number(json_t *v)
{
    char buf[64] = "";
    if (json_is_integer(v))
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, sizeof buf, "%.12g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, sizeof buf, "%s", json_is_true(v) ? "true" : "false");
    else if (json_is_string(v))
        snprintf(buf, sizeof buf, "%s", json_string_value(v));
    csv_field(buf, 0);
}

static void print_csv(json_t *rows)
{
    static const char *const base[] = {"influence", "pagerank",   "k_core",    "reach",
                                       "in_degree", "out_degree", "weight_in", "weight_out"};
    struct extra x = extras(rows);
    fputs("rank,contact,name,handle", stdout);
    for (size_t c = 0; c < sizeof base / sizeof base[0]; c++)
        printf(",%s", base[c]);
    if (x.value)
        fputs(",value,value_r,value_f,value_m", stdout);
    if (x.advocacy)
        fputs(",advocacy,advocate", stdout);
    if (x.risk)
        fputs(",risk,at_risk", stdout);
    if (x.position)
        fputs(",position", stdout);
    fputs("\r\n", stdout);
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        printf("%zu", i + 1);
        const char *name = json_string_value(json_object_get(row, "name"));
        const char *handle = json_string_value(json_object_get(row, "handle"));
        csv_field(json_string_value(json_object_get(row, "contact")), 0);
        csv_field(name ? name : "", 0);
        csv_field(handle ? handle : "", 0);
        for (size_t c = 0; c < sizeof base / sizeof base[0]; c++)
            csv_number(json_object_get(row, base[c]));
        json_t *value = json_object_get(row, "value"), *adv = json_object_get(row, "advocacy");
        json_t *risk = json_object_get(row, "risk");
        if (x.value) {
            csv_number(json_object_get(value, "score"));
            csv_number(json_object_get(value, "r"));
            csv_number(json_object_get(value, "f"));
            csv_number(json_object_get(value, "m"));
        }
        if (x.advocacy) {
            csv_number(json_object_get(adv, "score"));
            csv_number(json_object_get(adv, "advocate"));
        }
        if (x.risk) {
            csv_number(json_object_get(risk, "score"));
            csv_number(json_object_get(risk, "at_risk"));
        }
        if (x.position)
            csv_number(json_object_get(row, "position"));
        fputs("\r\n", stdout);
    }
}

struct opts {
    const char *audience, *svg, *config;
    uint64_t top, svg_nodes;
    int64_t half_life_ms;
    int half_life_given;
    enum format format;
    int compute;
    struct config *cfg; /* --config's, or NULL */
};

static int parse(int argc, char **argv, struct ctl *ctl, struct opts *o)
{
    enum {
        O_AUDIENCE = 256,
        O_TOP,
        O_FORMAT,
        O_COMPUTE,
        O_HALF_LIFE,
        O_SVG,
        O_SVG_NODES,
        O_CONFIG
    };
    static const struct option long_opts[] = {{"audience", 1, NULL, O_AUDIENCE},
                                              {"top", 1, NULL, O_TOP},
                                              {"format", 1, NULL, O_FORMAT},
                                              {"compute", 0, NULL, O_COMPUTE},
                                              {"half-life", 1, NULL, O_HALF_LIFE},
                                              {"svg", 1, NULL, O_SVG},
                                              {"svg-nodes", 1, NULL, O_SVG_NODES},
                                              {"config", 1, NULL, O_CONFIG},
                                              CTL_COMMON_OPTIONS,
                                              {0}};
    *o = (struct opts){.top = DEFAULT_TOP,
                       .svg_nodes = DEFAULT_SVG_NODES,
                       .half_life_ms = SCORE_HALF_LIFE_DEFAULT_MS,
                       .config = getenv("KANAL_CONFIG")};
    if (o->config && !*o->config)
        o->config = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "s:h", long_opts, NULL)) != -1) {
        switch (opt) {
        case O_AUDIENCE:
            o->audience = optarg;
            break;
        case O_TOP:
            if (ctl_parse_u64(&ctl_score, "--top", optarg, &o->top))
                return CTL_USAGE;
            break;
        case O_SVG_NODES:
            if (ctl_parse_u64(&ctl_score, "--svg-nodes", optarg, &o->svg_nodes))
                return CTL_USAGE;
            break;
        case O_FORMAT:
            if (strcmp(optarg, "table") == 0)
                o->format = FORMAT_TABLE;
            else if (strcmp(optarg, "json") == 0)
                o->format = FORMAT_JSON;
            else if (strcmp(optarg, "csv") == 0)
                o->format = FORMAT_CSV;
            else
                return ctl_usage_error(&ctl_score, "--format is table, json or csv, not '%s'",
                                       optarg);
            break;
        case O_COMPUTE:
            o->compute = 1;
            break;
        case O_CONFIG:
            o->config = optarg;
            break;
        case O_HALF_LIFE:
            o->half_life_given = 1;
            if (strcmp(optarg, "0") == 0)
                o->half_life_ms = 0;
            else if (util_parse_duration_ms(optarg, &o->half_life_ms) || o->half_life_ms <= 0)
                return ctl_usage_error(&ctl_score,
                                       "--half-life is a duration (90d, 12h, 30m...) or 0, "
                                       "not '%s'",
                                       optarg);
            break;
        case O_SVG:
            o->svg = optarg;
            break;
        default: {
            int rc = ctl_common_option(ctl, &ctl_score, opt);
            if (rc >= 0)
                return rc;
        }
        }
    }
    if (optind < argc)
        return ctl_usage_error(&ctl_score, "unexpected argument '%s'", argv[optind]);
    if (!o->audience)
        return ctl_usage_error(&ctl_score, "--audience ID is required (e.g. --audience all)");
    if (o->svg && !*o->svg)
        return ctl_usage_error(&ctl_score, "--svg wants a file name");
    return -1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The last seq of txn's log: what a computing reads up to. */
static uint64_t last_seq(struct store *st, MDB_txn *txn)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint64_t seq = 0;
    if (mdb_cursor_open(txn, st->log, &cur) != 0)
        return 0;
    if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0 && kanal_store_u64(k.mv_data, k.mv_size, &seq))
        seq = 0;
    mdb_cursor_close(cur);
    return seq;
}

/* The top N rows of doc, each with its contact's name. */
static json_t *top_rows(struct opts *o, struct store *st, MDB_txn *txn, json_t *doc)
{
    json_t *all = json_object_get(doc, "contacts"), *rows = json_array();
    for (size_t i = 0; i < json_array_size(all) && (o->top == 0 || i < o->top); i++) {
        json_t *row = json_array_get(all, i);
        name_row(st, txn, row);
        json_array_append(rows, row);
    }
    return rows;
}

/* Computing the audience alone with kanald's scoring run (run.h). */
struct computed {
    struct opts *o;
    struct store *st;
    MDB_txn *txn;
    json_t *kept; /* the kept document, or NULL */
    json_t *doc;  /* the computed one */
    int empty;    /* no record of the store is in the audience */
    int svg_rc;   /* the picture's exit code */
    int drew;
};

static int computed_doc(void *arg, size_t i, json_t *doc, const struct score_build *b)
{
    struct computed *c = arg;
    c->doc = doc;
    c->empty = b->records == 0 && b->bots == 0 && b->erased == 0;
    /* The picture needs the graph, which lives for this call only. */
    json_t *shown = c->kept ? c->kept : doc;
    if (c->o->svg && shown && !c->empty) {
        json_decref(top_rows(c->o, c->st, c->txn, shown));
        c->svg_rc = score_svg(c->o->svg, shown, b, c->o->top, c->o->svg_nodes);
        c->drew = 1;
    }
    return 0;
}

/* The scores, kept or computed, on one read snapshot (txn's; the
 * computing reads the log up to its last seq).  *doc is the document; 0
 * or an exit code. */
static int scores(struct opts *o, struct store *st, MDB_txn *txn, json_t **doc)
{
    *doc = NULL;
    if (!o->compute && st->scores != (MDB_dbi)-1) {
        int rc = score_get(st, txn, o->audience, doc);
        if (rc == 0)
            json_object_set_new(*doc, "kept", json_true());
        else if (rc != MDB_NOTFOUND)
            return ctl_fail(&ctl_score, "reading the kept scores", kanal__reader_err(rc));
    }
    if (*doc && !o->svg)
        return 0;
    struct audience a;
    int rc = audience_parse(o->audience, &a);
    if (rc == 0)
        audience_free(&a);
    if (rc == -EINVAL) {
        json_decref(*doc);
        *doc = NULL;
        return ctl_usage_error(&ctl_score,
                               "'%s' is not an audience id: all, source:NAME, channel:NAME, "
                               "campaign:ID, event:ID, thread:ID, or an [audience NAME]'s name",
                               o->audience);
    }
    const char *named_match = NULL;
    for (size_t i = 0; rc == -ENOENT && o->cfg && i < o->cfg->naudiences; i++)
        if (strcmp(o->cfg->audiences[i].name, o->audience) == 0) {
            named_match = o->cfg->audiences[i].match;
            rc = 0;
        }
    if (rc == -ENOENT) { /* a named audience: its match words are in kanal.conf */
        if (*doc) {
            fprintf(stderr,
                    "kanalctl score: no picture: '%s' is an [audience NAME], whose records "
                    "kanalctl cannot pick without kanald's configuration (--config)\n",
                    o->audience);
            return o->svg ? CTL_FAILED : 0;
        }
        fprintf(stderr,
                "kanalctl score: unknown audience '%s': kanald keeps no scores for it and it "
                "is not a built-in audience (all, source:NAME, channel:NAME, campaign:ID, "
                "event:ID, thread:ID) or an [audience NAME] of --config's file\n",
                o->audience);
        return CTL_FAILED;
    }
    struct computed c = {.o = o, .st = st, .txn = txn, .kept = *doc};
    struct score_work w = {0};
    score_work_defaults(&w);
    w.st = st;
    w.upto = last_seq(st, txn);
    w.now_ms = now_ms();
    w.half_life_ms = o->half_life_ms;
    struct score_named named = {o->audience, named_match};
    if (o->cfg) { /* as kanald makes them */
        w.params = o->cfg->score;
        w.event_window_ms = o->cfg->score_event_window_ms;
        if (!o->half_life_given)
            w.half_life_ms = o->cfg->score_half_life_ms;
    }
    if (named_match) {
        w.named = &named;
        w.nnamed = 1;
    }
    w.only = o->audience;
    w.each = computed_doc;
    w.arg = &c;
    rc = score_work_run(&w);
    int ran = w.naud == 1;
    score_work_free(&w);
    if (rc) {
        json_decref(c.doc);
        json_decref(*doc);
        *doc = NULL;
        return ctl_fail(&ctl_score, "reading the log", kanal__reader_err(rc < 0 ? -rc : rc));
    }
    if (*doc) { /* kept: the computing was for the picture */
        json_decref(c.doc);
        return c.drew ? c.svg_rc : CTL_FAILED;
    }
    if (!ran || c.empty) {
        json_decref(c.doc);
        fprintf(stderr,
                "kanalctl score: unknown audience '%s': no record of the store (up to seq "
                "%llu) belongs to it, and kanald keeps no scores for it\n",
                o->audience, (unsigned long long)w.upto);
        return CTL_FAILED;
    }
    if (!c.doc) {
        fprintf(stderr, "kanalctl score: audience '%s': PageRank did not converge in %d rounds\n",
                o->audience, SCORE_PAGERANK_ROUNDS);
        return CTL_FAILED;
    }
    *doc = c.doc;
    json_object_set_new(*doc, "kept", json_false());
    return o->svg ? (c.drew ? c.svg_rc : CTL_FAILED) : 0;
}

static int run_scores(struct ctl *ctl, struct opts *op)
{
    struct opts o = *op;
    int rc;
    jarena_setup(); /* before any jansson value: records are parsed in arenas */
    struct kanal_reader *r;
    if ((rc = ctl_open(ctl, &r)))
        return rc;
    struct store st;
    MDB_txn *txn = NULL;
    size_t map_size;
    if ((rc = store_of_reader(r, &st))) {
        fprintf(stderr,
                "kanalctl score: store %s has no contacts: it was written by a kanald that "
                "did not resolve contacts yet\n",
                ctl->store);
        kanal_reader_close(r);
        return CTL_FAILED;
    }
    if ((rc = kanal__reader_map_size(r, &map_size)) || (rc = kanal__reader_begin(r, &txn))) {
        kanal_reader_close(r);
        return ctl_fail(&ctl_score, "opening a read snapshot", rc);
    }
    json_t *doc;
    int exit_code = scores(&o, &st, txn, &doc);
    if (doc) {
        json_t *rows = top_rows(&o, &st, txn, doc);
        if (o.format == FORMAT_JSON) {
            json_object_set(doc, "contacts", rows);
            json_dumpf(doc, stdout, JSON_INDENT(2));
            putchar('\n');
        } else if (o.format == FORMAT_CSV) {
            print_csv(rows);
        } else {
            print_table(doc, rows);
        }
        json_decref(rows);
    }
    json_decref(doc);
    kanal__reader_end(r, txn);
    kanal_reader_close(r);
    if (fflush(stdout) != 0) {
        perror("kanalctl score: writing the output");
        return CTL_FAILED;
    }
    return exit_code;
}

static int run(struct ctl *ctl, int argc, char **argv)
{
    struct opts o;
    int rc = parse(argc, argv, ctl, &o);
    if (rc >= 0)
        return rc;
    if (o.config) {
        struct config_errors errs = {0};
        if (config_load_for_reader(o.config, &o.cfg, &errs) != 0) {
            for (size_t i = 0; i < errs.n; i++)
                fprintf(stderr, "kanalctl score: %s\n", errs.lines[i]);
            config_errors_free(&errs);
            return CTL_USAGE;
        }
        config_errors_free(&errs);
    }
    rc = run_scores(ctl, &o);
    if (o.cfg)
        config_free(o.cfg);
    return rc;
}
