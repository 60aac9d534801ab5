/* SPDX-License-Identifier: Apache-2.0 */
/* The plugin sections built: [source NAME], [processor NAME] and
 * [sink NAME], each with the common options and its plugin's, defaults and
 * secrets resolved, and which sink ack = cluster waits for.  Their option
 * tables are in config.c. */
#include "config_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handle.h"
#include "loader.h"
#include "record.h"
#include "secret.h"
#include "util.h"

/* ---- sources ---- */

static int valid_source_name(const char *s)
{
    if (!*s || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return 0;
    return 1;
}

static const struct kanal_option *find_option(const struct kanal_option *table, const char *name)
{
    for (const struct kanal_option *o = table; o && o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

static void set_value(struct option_value *ov, const struct kanal_option *spec)
{
    ov->spec = spec;
}

/* What every plugin section ([source], [processor], [sink]) shares: its
 * name, its plugin and the role that plugin must be able to serve, the
 * section's options (the common table, then the plugin's) with defaults and
 * secrets resolved.  Appends the section to list and returns it, or NULL
 * after reporting why it cannot be built. */
static struct source_config *
build_section(struct config *cfg, const struct raw_section *s, const char *what, const char *name,
              int role, const struct kanal_option *common, struct source_config **list, size_t *n,
              struct loader *loader, const char *path, struct config_errors *errs)
{
    if (!valid_source_name(name)) {
        add_error(errs, path, s->line, "%s name '%s' must be 1-64 letters, digits, '-', '_' or '.'",
                  what, name);
        return NULL;
    }
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i].name, name) == 0) {
            add_error(errs, path, s->line, "%s '%s' is defined twice (first on line %d)", what,
                      name, (*list)[i].line);
            return NULL;
        }
    check_duplicates(s, path, errs);
    const struct raw_kv *pk = raw_get(s, "plugin");
    if (!pk) {
        add_error(errs, path, s->line, "[%s %s] needs 'plugin = NAME'", what, name);
        return NULL;
    }
    const struct plugin_module *mod = loader_find(loader, pk->value);
    if (!mod) {
        const struct plugin_refusal *r = loader_refusal(loader, pk->value);
        if (r)
            add_error(errs, path, pk->line, "plugin '%s' was refused: %s: %s", pk->value, r->path,
                      r->reason);
        else
            add_error(errs, path, pk->line, "no plugin named '%s' in %s", pk->value,
                      cfg->plugin_dir);
        return NULL;
    }
    const char *why = loader_check_role(mod->desc, role);
    if (why) {
        add_error(errs, path, pk->line, "plugin '%s' (%s) cannot serve [%s %s]: %s", pk->value,
                  mod->path, what, name, why);
        return NULL;
    }
    const struct kanal_option *popts = mod->desc->options;
    size_t ncommon = 0, nplugin = 0;
    while (common[ncommon].name)
        ncommon++;
    while (popts && popts[nplugin].name)
        nplugin++;
    *list = xrealloc(*list, (*n + 1) * sizeof **list);
    struct source_config *sc = &(*list)[(*n)++];
    *sc =
        (struct source_config){.name = xstrdup(name), .line = s->line, .module = mod, .role = role};
    sc->values = xcalloc(ncommon + nplugin, sizeof *sc->values);
    sc->nvalues = ncommon + nplugin;
    for (size_t i = 0; i < ncommon; i++)
        set_value(&sc->values[i], &common[i]);
    for (size_t i = 0; i < nplugin; i++) {
        set_value(&sc->values[ncommon + i], &popts[i]);
        if (find_option(common, popts[i].name))
            add_error(errs, path, s->line, "plugin '%s' redefines the common option '%s'",
                      mod->desc->name, popts[i].name);
    }
    for (size_t i = 0; i < s->nkv; i++)
        if (!find_option(common, s->kv[i].key) && !find_option(popts, s->kv[i].key))
            add_error(errs, path, s->kv[i].line, "unknown key '%s' for plugin '%s' in [%s %s]",
                      s->kv[i].key, mod->desc->name, what, name);

    /* insecure_inline_secrets decides how secrets are read: look at it first. */
    int inline_ok = 0;
    const struct raw_kv *ik = raw_get(s, "insecure_inline_secrets");
    if (ik)
        util_parse_bool(ik->value, &inline_ok);
    for (size_t i = 0; i < sc->nvalues; i++) {
        struct option_value *ov = &sc->values[i];
        const struct kanal_option *o = ov->spec;
        const struct raw_kv *kv = raw_get(s, o->name);
        const char *text = kv ? kv->value : o->default_value;
        int line = kv ? kv->line : s->line;
        if (!text) {
            if (o->required)
                add_error(errs, path, s->line, "[%s %s] needs '%s' (%s)", what, name, o->name,
                          o->help ? o->help : "required by the plugin");
            continue;
        }
        if (o->type == KANAL_OPT_SECRET && kv) {
            char *resolved = NULL;
            const char *swhy = NULL;
            if (secret_resolve(text, inline_ok, &resolved, &swhy) < 0) {
                add_error(errs, path, line, "secret '%s': %s", o->name, swhy);
                continue;
            }
            ov->text = resolved;
            char file[4096], label[160];
            int kind = secret_file_of(text, file, sizeof file);
            snprintf(label, sizeof label, "secret '%s'", o->name);
            if (kind)
                config_check_secret_file(errs, path, line, label, file, kind);
        } else {
            const char *pwhy = "";
            if (parse_value(o, text, &ov->num, &pwhy) < 0) {
                add_error(errs, path, line, "'%s' = '%s': %s", o->name, text, pwhy);
                continue;
            }
            ov->text = xstrdup(text);
        }
        ov->set = 1;
        ov->line = kv ? kv->line : 0;
    }
    return sc;
}

void build_source(struct config *cfg, const struct raw_section *s, const char *name,
                  struct loader *loader, const char *path, struct config_errors *errs)
{
    if (strcmp(name, "kanal") == 0) {
        add_error(errs, path, s->line,
                  "source name 'kanal' is reserved for the records kanald writes itself");
        return;
    }
    struct source_config *sc =
        build_section(cfg, s, "source", name, STAGE_SOURCE, config_common_options, &cfg->sources,
                      &cfg->nsources, loader, path, errs);
    if (!sc)
        return;
    const struct option_value *v;
    if ((v = source_config_value(sc, "public_url")) && v->set)
        sc->public_url = v->text;
    if ((v = source_config_value(sc, "keep_raw")) && v->set)
        sc->keep_raw = (int)v->num;
    if ((v = source_config_value(sc, "expect_traffic_within")) && v->set)
        sc->expect_traffic_within_ms = v->num;
    if ((v = source_config_value(sc, "send_concurrency")) && v->set)
        sc->send_concurrency = v->num;
    if ((v = source_config_value(sc, "send_rate")) && v->set)
        sc->send_rate = v->num;
    if ((v = source_config_value(sc, "send_max_attempts")) && v->set)
        sc->send_max_attempts = v->num;
    if ((v = source_config_value(sc, "send_max_age")) && v->set)
        sc->send_max_age_ms = v->num;
    if (sc->send_concurrency < 1 || sc->send_rate < 0 || sc->send_max_attempts < 1)
        add_error(errs, path, s->line,
                  "[source %s]: send_concurrency and send_max_attempts must be at least 1, "
                  "send_rate at least 0",
                  name);
    if ((v = source_config_value(sc, "trust")) && v->set)
        sc->trust = !strcmp(v->text, "verified")   ? RECORD_TRUST_VERIFIED
                    : !strcmp(v->text, "asserted") ? RECORD_TRUST_ASSERTED
                                                   : RECORD_TRUST_AUTO;
    if ((v = source_config_value(sc, "default_country")) && v->set) {
        sc->default_country = v->text;
        if (!handle_country_known(v->text))
            add_error(errs, path, v->line,
                      "'default_country' = '%s': not an ISO 3166 country code kanal knows",
                      v->text);
    }
}

const struct option_value *source_config_value(const struct source_config *sc, const char *name)
{
    for (size_t i = 0; i < sc->nvalues; i++)
        if (strcmp(sc->values[i].spec->name, name) == 0)
            return &sc->values[i];
    return NULL;
}

int source_config_equal(const struct source_config *a, const struct source_config *b)
{
    if (strcmp(a->name, b->name) != 0 || a->module != b->module || a->nvalues != b->nvalues)
        return 0;
    /* What ack = cluster waits for follows other sections too (a sink's ack). */
    if (!!a->ack_sink != !!b->ack_sink || (a->ack_sink && strcmp(a->ack_sink, b->ack_sink)) ||
        a->ack_timeout_ms != b->ack_timeout_ms)
        return 0;
    for (size_t i = 0; i < a->nvalues; i++) {
        const struct option_value *x = &a->values[i], *y = &b->values[i];
        if (strcmp(x->spec->name, y->spec->name) != 0 || x->set != y->set)
            return 0;
        if (x->set && strcmp(x->text, y->text) != 0)
            return 0;
    }
    return 1;
}

const struct source_config *config_find_source(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nsources; i++)
        if (strcmp(cfg->sources[i].name, name) == 0)
            return &cfg->sources[i];
    return NULL;
}

/* ---- pipeline stages: [processor NAME] and [sink NAME] ---- */
int stage_role(const char *section)
{
    if (strncmp(section, "processor ", 10) == 0)
        return STAGE_PROCESSOR;
    if (strncmp(section, "sink ", 5) == 0)
        return STAGE_SINK;
    return 0;
}

const char *config_match_check(const char *text)
{
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        size_t wl = strcspn(p, " \t");
        const char *colon = memchr(p, ':', wl);
        if (!colon)
            return "each word must be FIELD:VALUE[,VALUE...]";
        size_t fl = (size_t)(colon - p);
        if (!((fl == 6 && !strncmp(p, "source", 6)) || (fl == 7 && !strncmp(p, "channel", 7)) ||
              (fl == 4 && !strncmp(p, "kind", 4))))
            return "a field must be source, channel or kind";
        if (colon + 1 == p + wl)
            return "a field needs at least one value";
        p += wl;
    }
    return NULL;
}

void build_stage(struct config *cfg, const struct raw_section *s, struct loader *loader,
                 const char *path, struct config_errors *errs)
{
    int role = stage_role(s->name);
    const char *what = role == STAGE_PROCESSOR ? "processor" : "sink";
    const char *name = s->name + strlen(what) + 1;
    while (*name == ' ')
        name++;
    struct source_config *sc = build_section(
        cfg, s, what, name, role,
        role == STAGE_PROCESSOR ? config_processor_options : config_sink_options,
        role == STAGE_PROCESSOR ? &cfg->processors : &cfg->sinks,
        role == STAGE_PROCESSOR ? &cfg->nprocessors : &cfg->nsinks, loader, path, errs);
    if (!sc)
        return;
    const struct option_value *v;
    if ((v = source_config_value(sc, "match")) && v->set) {
        const char *mwhy = config_match_check(v->text);
        if (mwhy)
            add_error(errs, path, v->line, "'match' = '%s': %s", v->text, mwhy);
        sc->match = v->text;
    }
    if ((v = source_config_value(sc, "budget")) && v->set)
        sc->budget_ms = v->num;
    if ((v = source_config_value(sc, "batch_max")) && v->set)
        sc->batch_max = v->num;
    if ((v = source_config_value(sc, "max_inflight")) && v->set)
        sc->max_inflight = v->num;
    if ((v = source_config_value(sc, "max_lag")) && v->set)
        sc->max_lag_ms = v->num;
    if (role == STAGE_PROCESSOR && sc->budget_ms < 1)
        add_error(errs, path, s->line, "[processor %s]: budget must be at least 1ms", name);
    if (role == STAGE_SINK &&
        (sc->batch_max < 1 || sc->batch_max > 10000 || sc->max_inflight < sc->batch_max))
        add_error(errs, path, s->line,
                  "[sink %s]: batch_max must be 1-10000 and max_inflight at least batch_max", name);
}

/* ack = cluster: which sink each source's answers wait for.  At most one
 * sink has ack = cluster (it applies to every source that does not say
 * ack = local); a source with ack = cluster (or ack_sink alone) names its
 * sink with ack_sink, or uses that one, or the only sink there is. */
void resolve_acks(struct config *cfg, const char *path, struct config_errors *errs)
{
    const struct source_config *global = NULL;
    const struct option_value *v;
    for (size_t i = 0; i < cfg->nsinks; i++) {
        struct source_config *k = &cfg->sinks[i];
        if ((v = source_config_value(k, "ack_timeout")) && v->set)
            k->ack_timeout_ms = v->num;
        if (!(v = source_config_value(k, "ack")) || !v->set || strcmp(v->text, "cluster"))
            continue;
        k->ack_cluster = 1;
        if (k->ack_timeout_ms < 1)
            add_error(errs, path, v->line, "[sink %s]: ack_timeout must be at least 1ms", k->name);
        if (global)
            add_error(errs, path, v->line,
                      "[sink %s]: ack = cluster is already set on [sink %s]; name the sink per "
                      "source with ack_sink instead",
                      k->name, global->name);
        else
            global = k;
    }
    for (size_t i = 0; i < cfg->nsources; i++) {
        struct source_config *sc = &cfg->sources[i];
        const struct option_value *mode = source_config_value(sc, "ack");
        const struct option_value *named = source_config_value(sc, "ack_sink");
        const struct option_value *timeout = source_config_value(sc, "ack_timeout");
        int line = mode && mode->set ? mode->line : sc->line;
        if (mode && mode->set && !strcmp(mode->text, "local")) {
            if (named && named->set)
                add_error(errs, path, named->line,
                          "[source %s]: ack_sink is set but ack = local waits for no sink",
                          sc->name);
            continue;
        }
        const struct source_config *target = NULL;
        if (named && named->set) {
            target = config_find_stage(cfg, STAGE_SINK, named->text);
            if (!target) {
                add_error(errs, path, named->line, "[source %s]: ack_sink = %s: no [sink %s]",
                          sc->name, named->text, named->text);
                continue;
            }
        } else if (global) {
            target = global;
        } else if (mode && mode->set) { /* ack = cluster */
            if (cfg->nsinks != 1) {
                add_error(errs, path, line,
                          "[source %s]: ack = cluster needs a sink to wait for: set ack_sink, or "
                          "ack = cluster in one [sink NAME]",
                          sc->name);
                continue;
            }
            target = &cfg->sinks[0];
        }
        if (!target)
            continue;
        sc->ack_sink = xstrdup(target->name);
        sc->ack_timeout_ms = timeout && timeout->set ? timeout->num : target->ack_timeout_ms;
        if (sc->ack_timeout_ms < 1)
            add_error(errs, path, timeout && timeout->set ? timeout->line : line,
                      "[source %s]: ack_timeout must be at least 1ms", sc->name);
    }
}

const struct source_config *config_find_stage(const struct config *cfg, int role, const char *name)
{
    const struct source_config *list = role == STAGE_PROCESSOR ? cfg->processors : cfg->sinks;
    size_t n = role == STAGE_PROCESSOR ? cfg->nprocessors : cfg->nsinks;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0)
            return &list[i];
    return NULL;
}

