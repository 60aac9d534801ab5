/* SPDX-License-Identifier: Apache-2.0 */
/* tagger: an example processor (ABI 1.1).  It tags records whose text
 * contains one of the configured words, case-insensitively:
 *
 *   [processor tags]
 *   plugin = tagger
 *   words  = refund,cancel,broken
 *   match  = kind:message,comment
 *
 * stores annotations.tags = {"tags":["refund"]} in a matching record and
 * leaves the others alone.  Build it out of tree:
 *   cc -shared -fPIC -o tagger.so tagger.c \
 *      $(pkg-config --cflags --libs kanal-plugin jansson)
 * process() gets the record as JSON text and hands back its annotation as
 * JSON text; any JSON library will do.  It runs on kanald's loop thread
 * within the section's budget (5ms unless set), so keep it quick. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strcasestr */
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <kanal/plugin.h>

struct tagger {
    const struct kanal_host *host;
    struct kanal_source *src;
    char **words;
    size_t nwords;
    char *annotation; /* the last answer: valid until the next call */
};

static int tagger_init(const struct kanal_host *host, struct kanal_source *src, void **state)
{
    if (host->abi_minor < 1 || !host->sink_ack) /* a 1.0 host has no processors */
        return KANAL_EABI;
    struct tagger *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->host = host;
    t->src = src;
    char *list = strdup(host->config_string(src, "words"));
    for (char *save = NULL, *w = strtok_r(list, ", ", &save); w; w = strtok_r(NULL, ", ", &save)) {
        char **nw = realloc(t->words, (t->nwords + 1) * sizeof *nw);
        if (!nw)
            break;
        t->words = nw;
        t->words[t->nwords++] = strdup(w);
    }
    free(list);
    *state = t;
    return 0;
}

static int tagger_process(void *state, const char *json, size_t len,
                          struct kanal_process_result *out)
{
    struct tagger *t = state;
    json_error_t e;
    json_t *rec = json_loadb(json, len, 0, &e);
    if (!rec)
        return -EINVAL; /* counted as a failure; the record is stored anyway */
    const char *text = json_string_value(json_object_get(rec, "text"));
    json_t *tags = json_array();
    for (size_t i = 0; text && i < t->nwords; i++)
        if (strcasestr(text, t->words[i]))
            json_array_append_new(tags, json_string(t->words[i]));
    json_decref(rec);
    free(t->annotation);
    t->annotation = NULL;
    if (json_array_size(tags) > 0) {
        json_t *ann = json_pack("{s:o}", "tags", tags);
        t->annotation = json_dumps(ann, JSON_COMPACT);
        json_decref(ann);
        if (!t->annotation)
            return -ENOMEM;
        out->annotation = t->annotation;
        out->annotation_len = strlen(t->annotation);
    } else {
        json_decref(tags);
    }
    out->verdict = KANAL_PROCESS_PASS;
    return 0;
}

static int tagger_start(void *state)
{
    (void)state;
    return 0;
}

static int tagger_stop(void *state)
{
    (void)state;
    return 0;
}

static void tagger_destroy(void *state)
{
    struct tagger *t = state;
    for (size_t i = 0; i < t->nwords; i++)
        free(t->words[i]);
    free(t->words);
    free(t->annotation);
    free(t);
}

static const struct kanal_option tagger_options[] = {
    {"words", KANAL_OPT_STRING, NULL, 1, "comma-separated words that tag a record", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static const struct kanal_plugin tagger_plugin = {
    KANAL_PLUGIN_HEADER,
    .name = "tagger",
    .version = "1.0",
    .description = "tags records whose text contains configured words",
    .options = tagger_options,
    .init = tagger_init,
    .start = tagger_start,
    .stop = tagger_stop,
    .destroy = tagger_destroy,
    .process = tagger_process,
};

KANAL_PLUGIN_EXPORT const struct kanal_plugin *kanal_plugin_entry(void)
{
    return &tagger_plugin;
}
