/* SPDX-License-Identifier: Apache-2.0 */
/* Source lifecycle: init, start, stop, and destroy once nothing is pending.
 * A source that is stopped (on reload or shutdown) may still have emits in
 * the writer's queue and requests waiting for them; its plugin state lives
 * until the last of them completes, so a completion never reaches freed
 * state. */
#include "source.h"

#include <stdlib.h>
#include <string.h>

#include <kanal/plugin.h>

#include "error.h"
#include "loader.h"
#include "log.h"
#include "util.h"

struct kanal_source *source_create(struct source_set *set, struct source_config *sc)
{
    struct kanal_source *src = xcalloc(1, sizeof *src);
    src->set = set;
    src->sc = *sc;
    memset(sc, 0, sizeof *sc); /* moved: the config no longer owns it */
    src->plugin = src->sc.module->desc;
    src->healthy = 1;
    src->lag = -1;
    src->started_ms = util_now_ms();
    int r = src->plugin->init(set->api, src, &src->state);
    if (r < 0) {
        log_msg(KANAL_LOG_ERR, src->sc.name, "source refused: plugin %s (%s) failed to init: %s",
                src->plugin->name, src->sc.module->path, kanal_strerror(r));
        set->close_handles(src);
        free(src->sc.name);
        free(src->sc.ack_sink);
        for (size_t i = 0; i < src->sc.nvalues; i++)
            free(src->sc.values[i].text);
        free(src->sc.values);
        free(src);
        return NULL;
    }
    src->initialized = 1;
    return src;
}

static void source_destroy(struct kanal_source *src)
{
    struct source_set *set = src->set;
    for (struct kanal_source **p = &set->retired; *p; p = &(*p)->next_retired)
        if (*p == src) {
            *p = src->next_retired;
            break;
        }
    if (src->initialized)
        src->plugin->destroy(src->state);
    set->close_handles(src);
    set->free_stage(src);
    for (size_t i = 0; i < src->sc.nvalues; i++)
        free(src->sc.values[i].text);
    free(src->sc.values);
    log_msg(KANAL_LOG_INFO, src->sc.name, "source stopped");
    free(src->sc.name);
    free(src->sc.ack_sink);
    free(src->health_reason);
    free(src->last_error);
    free(src);
}

int source_start(struct kanal_source *src)
{
    int r = src->plugin->start(src->state);
    if (r < 0) {
        log_msg(KANAL_LOG_ERR, src->sc.name, "source refused: plugin %s failed to start: %s",
                src->plugin->name, kanal_strerror(r));
        return r;
    }
    src->started = 1;
    log_msg(KANAL_LOG_INFO, src->sc.name, "source started (plugin %s)", src->plugin->name);
    return 0;
}

void source_ref(struct kanal_source *src)
{
    src->pending++;
}

void source_unref(struct kanal_source *src)
{
    if (--src->pending == 0 && src->stopped)
        source_destroy(src);
}

void source_retire(struct kanal_source *src)
{
    struct source_set *set = src->set;
    for (size_t i = 0; i < set->nsources; i++)
        if (set->sources[i] == src) {
            memmove(&set->sources[i], &set->sources[i + 1],
                    (set->nsources - i - 1) * sizeof *set->sources);
            set->nsources--;
            break;
        }
    if (src->started) {
        int r = src->plugin->stop(src->state);
        if (r < 0)
            log_msg(KANAL_LOG_WARNING, src->sc.name, "plugin stop failed: %s", kanal_strerror(r));
    }
    src->stopped = 1;
    src->next_retired = set->retired;
    set->retired = src;
    /* Destroy now, or when the last pending emit or request completes. */
    src->pending++;
    source_unref(src);
}

struct kanal_source *source_find(struct source_set *set, const char *name)
{
    for (size_t i = 0; i < set->nsources; i++)
        if (strcmp(set->sources[i]->sc.name, name) == 0)
            return set->sources[i];
    return NULL;
}

static void add_source(struct source_set *set, struct source_config *sc)
{
    struct kanal_source *src = source_create(set, sc);
    if (!src)
        return;
    set->sources = xrealloc(set->sources, (set->nsources + 1) * sizeof *set->sources);
    set->sources[set->nsources++] = src;
    if (source_start(src) < 0)
        source_retire(src);
}

void source_start_all(struct source_set *set)
{
    struct config *cfg = *set->cfg;
    for (size_t i = 0; i < cfg->nsources; i++)
        add_source(set, &cfg->sources[i]);
}

void source_apply(struct source_set *set, struct config *next)
{
    /* Stop sources whose section is gone or changed. */
    for (size_t i = 0; i < set->nsources;) {
        struct kanal_source *src = set->sources[i];
        const struct source_config *nsc = config_find_source(next, src->sc.name);
        if (nsc && source_config_equal(&src->sc, nsc)) {
            i++;
            continue;
        }
        log_msg(KANAL_LOG_NOTICE, src->sc.name,
                nsc ? "section changed: restarting the source"
                    : "section removed: stopping the source");
        source_retire(src); /* removes it from set->sources */
    }
    /* Start new and changed ones. */
    for (size_t i = 0; i < next->nsources; i++)
        if (!source_find(set, next->sources[i].name))
            add_source(set, &next->sources[i]);
}

void source_note_event(struct kanal_source *src)
{
    src->last_event_ms = util_now_ms();
    if (src->silent_reported) {
        src->silent_reported = 0;
        log_msg(KANAL_LOG_NOTICE, src->sc.name, "traffic again after a silence");
    }
}

void source_check_silence(struct kanal_source *src, int64_t now)
{
    int64_t window = src->sc.expect_traffic_within_ms;
    if (window <= 0 || src->silent_reported)
        return;
    int64_t since = src->last_event_ms ? src->last_event_ms : src->started_ms;
    if (now - since >= window) {
        src->silent_reported = 1;
        log_msg(KANAL_LOG_WARNING, src->sc.name,
                "no traffic for %lld s (expect_traffic_within is %lld s): is the provider still "
                "delivering?",
                (long long)((now - since) / 1000), (long long)(window / 1000));
    }
}
