/* SPDX-License-Identifier: Apache-2.0 */
/* sentiment: a processor (ABI 1.1) that reads each record's text and
 * stores annotations.<section name> =
 *   {"label":"positive|negative|neutral","score":-1..1,"lang":"tr|en|…",
 *    "model":"kanal-lexicon-1.1","complaint":true|false}
 * Records without text get no annotation.  The analysis (analyse.c) runs
 * on kanald's loop thread within the section's budget: lexicon look-ups on
 * a bounded prefix of the text (max_text), no allocation per record.
 *
 *   [processor sentiment]
 *   plugin = sentiment
 *   data   = /usr/local/share/kanal/sentiment
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <kanal/plugin.h>
#include <kanal/kit.h>

#include "analyse.h"

#ifndef SENTIMENT_DATADIR
#define SENTIMENT_DATADIR "/usr/local/share/kanal/sentiment"
#endif

/* Texts up to this size are read straight from the record's JSON text
 * (kanal_kit_json_get_string: a quarter of the cost of parsing the whole
 * record); a longer one takes the parser. */
#define TEXT_BUF (64 * 1024)

struct sentiment {
    const struct kanal_host *host;
    struct kanal_source *src;
    struct sa_model *model;
    size_t max_text;
    char annotation[256]; /* the last answer: valid until the next call */
    char text[TEXT_BUF];  /* the record's text, read without parsing the record */
};

static int sentiment_init(const struct kanal_host *host, struct kanal_source *src, void **state)
{
    if (host->abi_minor < 1 || !host->sink_ack) /* a 1.0 host has no processors */
        return KANAL_EABI;
    struct sentiment *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->host = host;
    s->src = src;
    int64_t v = 0;
    s->max_text = host->config_int(src, "max_text", &v) == 0 && v > 0 ? (size_t)v : 2048;
    if (s->max_text > SA_TEXT_MAX) {
        host->log(src, KANAL_LOG_ERR, "max_text = %zu: at most %d bytes", s->max_text, SA_TEXT_MAX);
        free(s);
        return -EINVAL;
    }
    const char *thr_s = host->config_string(src, "threshold");
    char *end = NULL;
    double thr = thr_s ? strtod(thr_s, &end) : 0.05;
    if (thr_s && (end == thr_s || *end || thr < 0 || thr >= 1)) {
        host->log(src, KANAL_LOG_ERR, "threshold = %s: want a number from 0 to below 1", thr_s);
        free(s);
        return -EINVAL;
    }
    const char *data = host->config_string(src, "data");
    const char *langid = host->config_string(src, "langid");
    char err[512] = "";
    int rc = sa_model_load(&s->model, data, langid, err, sizeof err);
    if (rc < 0) {
        host->log(src, KANAL_LOG_ERR, "cannot load the sentiment data: %s", err);
        free(s);
        return rc;
    }
    sa_model_set_threshold(s->model, thr);
    host->log(src, KANAL_LOG_INFO, "model %s, data from %s", SA_MODEL_NAME, data);
    *state = s;
    return 0;
}

static int sentiment_process(void *state, const char *json, size_t len,
                             struct kanal_process_result *out)
{
    struct sentiment *s = state;
    out->verdict = KANAL_PROCESS_PASS;
    out->annotation = NULL;
    struct sa_result r;
    int g = kanal_kit_json_get_string(json, len, "text", s->text, sizeof s->text);
    if (g == 0) {
        size_t tlen = strlen(s->text); /* a text with a NUL is read up to it */
        if (tlen == 0)
            return 0; /* nothing to read: no annotation */
        sa_analyse(s->model, s->text, tlen > s->max_text ? s->max_text : tlen, NULL, &r);
    } else if (g == -ENOENT) {
        return 0;
    } else {
        /* Longer than the buffer, not a string, or not an object: parse. */
        json_error_t e;
        json_t *rec = json_loadb(json, len, 0, &e);
        if (!rec)
            return -EINVAL; /* counted as a failure; the record is stored anyway */
        json_t *t = json_object_get(rec, "text");
        size_t tlen = json_string_length(t);
        if (!json_is_string(t) || tlen == 0) {
            json_decref(rec);
            return 0;
        }
        sa_analyse(s->model, json_string_value(t), tlen > s->max_text ? s->max_text : tlen,
                   NULL, &r);
        json_decref(rec);
    }
    int n = snprintf(s->annotation, sizeof s->annotation,
                     "{\"label\":\"%s\",\"score\":%.4f,\"lang\":\"%s\",\"model\":\"%s\","
                     "\"complaint\":%s}",
                     r.label, r.score, r.lang, SA_MODEL_NAME, r.complaint ? "true" : "false");
    if (n < 0 || (size_t)n >= sizeof s->annotation)
        return -EOVERFLOW;
    out->annotation = s->annotation;
    out->annotation_len = (size_t)n;
    return 0;
}

static int sentiment_start(void *state)
{
    (void)state;
    return 0;
}

static int sentiment_stop(void *state)
{
    (void)state;
    return 0;
}

static void sentiment_destroy(void *state)
{
    struct sentiment *s = state;
    sa_model_free(s->model);
    free(s);
}

static const struct kanal_option sentiment_options[] = {
    {"data", KANAL_OPT_STRING, SENTIMENT_DATADIR, 0,
     "folder of the lexicons, the emoji ranking and langid.conf", NULL},
    {"langid", KANAL_OPT_STRING, "/usr/share/libexttextcat", 0,
     "folder of libexttextcat's language fingerprints (*.lm)", NULL},
    {"threshold", KANAL_OPT_STRING, "0.05", 0,
     "a score within plus or minus this is neutral (0 to below 1)", NULL},
    {"max_text", KANAL_OPT_SIZE, "2K", 0, "bytes of a record's text read (at most 4K)", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static const struct kanal_plugin sentiment_plugin = {
    KANAL_PLUGIN_HEADER,
    .name = "sentiment",
    .version = "1.0",
    .description = "labels each record's text positive, negative or neutral and flags "
                   "complaints (Turkish and English)",
    .options = sentiment_options,
    .init = sentiment_init,
    .start = sentiment_start,
    .stop = sentiment_stop,
    .destroy = sentiment_destroy,
    .process = sentiment_process,
};

KANAL_PLUGIN_EXPORT const struct kanal_plugin *kanal_plugin_entry(void)
{
    return &sentiment_plugin;
}
