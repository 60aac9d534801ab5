/* SPDX-License-Identifier: Apache-2.0 */
/* kit: emit, then act on the outcome.  The core of the promise "acknowledge
 * only after the commit": emit the records with the plugin's state entries,
 * keep an authentic payload kanald refuses as a record (KANAL_ERECORD, from
 * emit() or in the commit callback) as the plugin's unknown record instead,
 * and tell the plugin exactly once how it ended.  kanal_kit_emit_answer
 * (answer.c) answers an HTTP request on it; a poller or an LMTP listener
 * advances its cursor or replies per recipient on it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <kanal/kit.h>

/* One emit waiting for its commit; owns copies of what a late fallback needs. */
struct emit_then {
    const struct kanal_host *host;
    struct kanal_source *src;
    char *fallback_json; /* the prepared unknown record, or NULL */
    kanal_kit_fallback_fn build;
    void *build_arg;
    struct kanal_state_entry *states; /* the fallback's, copied */
    size_t nstates;
    int has_fallback, as_unknown;
    kanal_kit_done_cb done;
    void *done_arg;
};

static void emit_then_free(struct emit_then *p)
{
    free(p->fallback_json);
    for (size_t i = 0; i < p->nstates; i++) {
        free((void *)p->states[i].key);
        free((void *)p->states[i].value);
    }
    free(p->states);
    free(p);
}

/* Copy the fallback's state entries: the caller's may be gone by a late
 * KANAL_ERECORD. */
static int copy_states(struct emit_then *p, const struct kanal_state_entry *states, size_t n)
{
    if (!n)
        return 0;
    p->states = calloc(n, sizeof *p->states);
    if (!p->states)
        return -ENOMEM;
    p->nstates = n;
    for (size_t i = 0; i < n; i++) {
        char *key = strdup(states[i].key);
        void *value = NULL;
        if (states[i].value) {
            value = malloc(states[i].len ? states[i].len : 1);
            if (value)
                memcpy(value, states[i].value, states[i].len);
        }
        p->states[i].key = key;
        p->states[i].value = value;
        p->states[i].len = states[i].len;
        if (!key || (states[i].value && !value))
            return -ENOMEM;
    }
    return 0;
}

enum kanal_kit_outcome kanal_kit_outcome_of(int status)
{
    if (status >= 0)
        return KANAL_KIT_COMMITTED;
    if (status == KANAL_ERECORD || status == -ENOMEM)
        return KANAL_KIT_FAILED; /* the same emit again ends the same way */
    return KANAL_KIT_RETRY;      /* KANAL_ESTORE, KANAL_ESTOPPED, any other store error */
}

static void on_committed(void *arg, int status, const uint64_t *seqs, size_t n);

/* Emit the fallback instead of the refused records.  KANAL_ERECORD when
 * there is none or it was already tried. */
static int emit_fallback(struct emit_then *p)
{
    if (!p->has_fallback || p->as_unknown)
        return KANAL_ERECORD;
    p->as_unknown = 1;
    char *built = NULL;
    const char *text = p->fallback_json;
    if (!text) {
        int r = p->build(p->build_arg, &built);
        if (r < 0)
            return r;
        if (!built)
            return -ENOMEM;
        text = built;
    }
    int r = p->host->emit(p->src, text, strlen(text), p->states, p->nstates, on_committed, p);
    free(built);
    return r;
}

static void on_committed(void *arg, int status, const uint64_t *seqs, size_t n)
{
    struct emit_then *p = arg;
    if (status == KANAL_ERECORD && !p->as_unknown) {
        /* Refused in the commit itself: keep the payload all the same. */
        status = emit_fallback(p);
        if (status == 0)
            return;
    }
    struct kanal_kit_result res = {.outcome = kanal_kit_outcome_of(status),
                                   .status = status < 0 ? status : 0,
                                   .as_unknown = p->as_unknown,
                                   .seqs = status < 0 ? NULL : seqs,
                                   .n = status < 0 ? 0 : n};
    if (p->done)
        p->done(p->done_arg, &res);
    emit_then_free(p);
}

int kanal_kit_emit_then(const struct kanal_host *host, struct kanal_source *src, const char *json,
                        size_t len, const struct kanal_state_entry *states, size_t nstates,
                        const struct kanal_kit_fallback *fallback, kanal_kit_done_cb done,
                        void *arg)
{
    struct emit_then *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->host = host;
    p->src = src;
    p->done = done;
    p->done_arg = arg;
    int r = 0;
    if (fallback && (fallback->json || fallback->build)) {
        p->has_fallback = 1;
        p->build = fallback->build;
        p->build_arg = fallback->build_arg;
        if (fallback->json && !(p->fallback_json = strdup(fallback->json)))
            r = -ENOMEM;
        if (r == 0)
            r = copy_states(p, fallback->states, fallback->nstates);
    }
    if (r == 0) {
        /* Nothing to store (an empty body) is no record: keep it as unknown. */
        if ((json && len) || nstates)
            r = host->emit(src, json && len ? json : NULL, json ? len : 0, states, nstates,
                           on_committed, p);
        else
            r = KANAL_ERECORD;
        if (r == KANAL_ERECORD && (r = emit_fallback(p)) == 0)
            r = 1;
    }
    if (r < 0)
        emit_then_free(p); /* done is not called: the caller has the error */
    return r;
}
