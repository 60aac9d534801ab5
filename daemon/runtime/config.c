/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration loading.  inih reads the file; everything else here is
 * checking: unknown keys and sections are errors (a typo must never fall back
 * to a default), each plugin's option table is applied to its sections, and
 * secrets are resolved so that a missing file or variable is found by
 * --check-config, not at the first webhook. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "audience.h"
#include "handle.h"
#include "loader.h"
#include "log.h"
#include "netaddr.h"
#include "record.h"
#include "secret.h"
#include "util.h"

#ifndef KANAL_PLUGIN_DIR
#define KANAL_PLUGIN_DIR "/usr/lib/kanal/plugins"
#endif

const struct kanal_option config_common_options[] = {
    {"plugin", KANAL_OPT_STRING, NULL, 1, "name of the channel plugin serving this source", NULL},
    {"public_url", KANAL_OPT_URL, NULL, 0,
     "URL under which providers reach this source's webhook (behind the TLS front)", NULL},
    {"keep_raw", KANAL_OPT_BOOL, "no", 0, "store each provider payload in the record's raw field",
     NULL},
    {"default_country", KANAL_OPT_STRING, NULL, 0,
     "ISO 3166 country for national phone numbers, e.g. TR", NULL},
    {"expect_traffic_within", KANAL_OPT_DURATION, "0", 0,
     "report the source unhealthy after this long without traffic (0: never)", NULL},
    {"send_concurrency", KANAL_OPT_INT, "4", 0,
     "outbound messages of this source in flight at once", NULL},
    {"send_rate", KANAL_OPT_INT, "0", 0, "outbound messages per second at most (0: no limit)",
     NULL},
    {"send_max_attempts", KANAL_OPT_INT, "10", 0, "tries before an outbound message fails", NULL},
    {"send_max_age", KANAL_OPT_DURATION, "24h", 0,
     "how long an outbound message may wait before it fails", NULL},
    {"insecure_inline_secrets", KANAL_OPT_BOOL, "no", 0,
     "allow secrets written inline in this file (development only)", NULL},
    {"trust", KANAL_OPT_ENUM, "auto", 0,
     "what this source's customer parties prove: auto (the plugin's marks), asserted, verified",
     "auto|asserted|verified"},
    {"ack", KANAL_OPT_ENUM, NULL, 0,
     "local: answer once committed here; cluster: also wait for ack_sink's acknowledgement "
     "(unset: cluster when a [sink] has ack = cluster)",
     "local|cluster"},
    {"ack_sink", KANAL_OPT_STRING, NULL, 0,
     "the [sink NAME] that ack = cluster waits for (unset: the sink with ack = cluster, or the "
     "only sink)",
     NULL},
    {"ack_timeout", KANAL_OPT_DURATION, NULL, 0,
     "how long an answer waits for the sink; then 503 + Retry-After (unset: the sink's)", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

/* ---- raw INI contents ---- */

struct raw_kv {
    char *key;
    char *value;
    int line;
};

struct raw_section {
    char *name;
    int line;
    struct raw_kv *kv;
    size_t nkv;
};

struct raw_ini {
    const char *path;
    FILE *f;
    int line;
    int section_line;
    int new_section; /* a header was read since the last key */
    int continued;   /* the line read last begins with a blank: it continues a value */
    struct raw_section *sec;
    size_t nsec;
    struct config_errors *errs;
};

static void add_line(char ***lines, size_t *n, const char *path, int line, const char *kind,
                     const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    char *lineb = xmalloc(strlen(path) + strlen(kind) + strlen(msg) + 32);
    sprintf(lineb, "%s:%d: %s%s", path, line, kind, msg);
    *lines = xrealloc(*lines, (*n + 1) * sizeof **lines);
    (*lines)[(*n)++] = lineb;
}

void config_error_add(struct config_errors *errs, const char *path, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_line(&errs->lines, &errs->n, path, line, "", fmt, ap);
    va_end(ap);
}

void config_warning_add(struct config_errors *errs, const char *path, int line, const char *fmt,
                        ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_line(&errs->warnings, &errs->nwarnings, path, line, "warning: ", fmt, ap);
    va_end(ap);
}

/* The many checks below keep their short name for config_error_add(). */
#define add_error config_error_add

void config_errors_free(struct config_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        free(errs->lines[i]);
    free(errs->lines);
    for (size_t i = 0; i < errs->nwarnings; i++)
        free(errs->warnings[i]);
    free(errs->warnings);
    free(errs->api_tokens);
    *errs = (struct config_errors){0};
}

/* --check-config --user NAME: the service user whose access is checked. */
static const struct secret_user *service_user;

void config_set_service_user(const struct secret_user *u)
{
    service_user = u;
}

void config_check_secret_file(struct config_errors *errs, const char *path, int line,
                              const char *what, const char *file, int kind)
{
    int mode = secret_others_mode(file);
    if (mode > 0)
        config_warning_add(errs, path, line,
                           "%s: %s is open to other users (mode %04o); remove their "
                           "access (chmod o-rwx %s)",
                           what, file, (unsigned)mode, file);
    /* systemd reads a credential as root and hands kanald a private copy:
     * only file: secrets and the tokens file are read as the service user. */
    if (!service_user || kind == SECRET_CRED)
        return;
    int r = secret_user_can_read(service_user, file);
    if (r < 0)
        add_error(errs, path, line,
                  "%s: user %s cannot read %s: %s (kanald runs as %s: make it root:%s, mode "
                  "0640%s)",
                  what, service_user->name, file, strerror(-r), service_user->name,
                  service_user->group, kind == SECRET_FILE ? ", or use cred:NAME" : "");
}

/* inih hands no line numbers to the handler, but it reads through this
 * function one line at a time, so counting here tells where we are. */
/* libinih reads a line into a buffer of INI_MAX_LINE bytes (200 in
 * Debian's build, fixed when it was compiled) and would take the rest of a
 * longer one for a line of its own: such a line is refused here with its
 * number, and the way to write a long value (continued on indented lines). */
static char *counting_reader(char *str, int num, void *stream)
{
    struct raw_ini *ri = stream;
    char *r = fgets(str, num, ri->f);
    if (r) {
        ri->line++;
        size_t n = strlen(r);
        if (n > 0 && r[n - 1] != '\n' && !feof(ri->f)) {
            int c;
            while ((c = fgetc(ri->f)) != EOF && c != '\n')
                ;
            add_error(ri->errs, ri->path, ri->line,
                      "line longer than %d characters: continue a long value on the next "
                      "lines, each indented (a line that begins with a blank continues the "
                      "value before it)",
                      num - 3);
            snprintf(str, (size_t)num, ";\n"); /* read as a comment */
            return str;
        }
        const char *q = r;
        while (*q == ' ' || *q == '\t')
            q++;
        ri->continued = q > r && *q && *q != '\n' && *q != '\r' && *q != ';' && *q != '#' &&
                        *q != '[';
        if (ri->continued) {
            /* "  key = value": a key indented by mistake would be taken
             * for more of the value before it; say so instead. */
            const char *k = q;
            while ((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
                   (*k >= '0' && *k <= '9') || *k == '_')
                k++;
            while (*k == ' ' || *k == '\t')
                k++;
            if (k > q && *k == '=') {
                add_error(ri->errs, ri->path, ri->line,
                          "an indented key: a line that begins with a blank continues the "
                          "value before it; write keys at the start of the line");
                ri->continued = 0;
                snprintf(str, (size_t)num, ";\n");
                return str;
            }
        }
        /* Remember where sections start: the handler only sees their keys. */
        const char *p = r;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '[') {
            ri->section_line = ri->line;
            ri->new_section = 1;
        }
    }
    return r;
}

static int on_ini_pair(void *user, const char *section, const char *name, const char *value)
{
    struct raw_ini *ri = user;
    struct raw_section *s = ri->nsec ? &ri->sec[ri->nsec - 1] : NULL;
    /* A header always starts a new section, even one repeating the last
     * name, so that a repeated section is reported rather than merged. */
    if (!s || ri->new_section || strcmp(s->name, section) != 0) {
        ri->new_section = 0;
        ri->sec = xrealloc(ri->sec, (ri->nsec + 1) * sizeof *ri->sec);
        s = &ri->sec[ri->nsec++];
        *s = (struct raw_section){.name = xstrdup(section), .line = ri->section_line};
    }
    if (!name) /* a section header alone */
        return 1;
    if (ri->continued && s->nkv && strcmp(s->kv[s->nkv - 1].key, name) == 0) {
        /* More of the value before (inih passes its key again): joined
         * with one space, so a list may run over several lines. */
        struct raw_kv *kv = &s->kv[s->nkv - 1];
        size_t a = strlen(kv->value), b = strlen(value);
        kv->value = xrealloc(kv->value, a + b + 2);
        kv->value[a] = ' ';
        memcpy(kv->value + a + 1, value, b + 1);
        return 1;
    }
    s->kv = xrealloc(s->kv, (s->nkv + 1) * sizeof *s->kv);
    s->kv[s->nkv++] =
        (struct raw_kv){.key = xstrdup(name), .value = xstrdup(value), .line = ri->line};
    return 1;
}

static void raw_free(struct raw_ini *ri)
{
    for (size_t i = 0; i < ri->nsec; i++) {
        for (size_t j = 0; j < ri->sec[i].nkv; j++) {
            free(ri->sec[i].kv[j].key);
            free(ri->sec[i].kv[j].value);
        }
        free(ri->sec[i].kv);
        free(ri->sec[i].name);
    }
    free(ri->sec);
}

/* ---- values ---- */

static int parse_value(const struct kanal_option *o, const char *text, int64_t *num,
                       const char **why)
{
    *num = 0;
    switch (o->type) {
    case KANAL_OPT_STRING:
    case KANAL_OPT_SECRET:
        return 0;
    case KANAL_OPT_INT:
        *why = "expected an integer";
        return util_parse_int(text, num);
    case KANAL_OPT_BOOL: {
        int b;
        *why = "expected yes or no";
        if (util_parse_bool(text, &b) < 0)
            return -EINVAL;
        *num = b;
        return 0;
    }
    case KANAL_OPT_DURATION:
        *why = "expected a duration such as 500ms, 30s, 5m, 2h or 1d";
        return util_parse_duration_ms(text, num);
    case KANAL_OPT_SIZE:
        *why = "expected a size such as 65536, 64K, 1M or 2G";
        return util_parse_size(text, num);
    case KANAL_OPT_ENUM: {
        size_t tl = strlen(text);
        for (const char *c = o->choices; c && *c;) {
            const char *bar = strchr(c, '|');
            size_t cl = bar ? (size_t)(bar - c) : strlen(c);
            if (cl == tl && strncmp(c, text, tl) == 0)
                return 0;
            c = bar ? bar + 1 : c + cl;
        }
        *why = "is not one of the allowed values";
        return -EINVAL;
    }
    case KANAL_OPT_URL: {
        static const char *const schemes[] = {"http://",  "https://", "imap://",
                                              "imaps://", "smtp://",  "smtps://"};
        for (size_t i = 0; i < ARRAY_SIZE(schemes); i++)
            if (strncmp(text, schemes[i], strlen(schemes[i])) == 0 &&
                text[strlen(schemes[i])] != '\0')
                return 0;
        *why = "expected an absolute http(s), imap(s) or smtp(s) URL";
        return -EINVAL;
    }
    }
    *why = "has an unknown type";
    return -EINVAL;
}

static const struct raw_kv *raw_get(const struct raw_section *s, const char *key)
{
    for (size_t i = 0; i < s->nkv; i++)
        if (strcmp(s->kv[i].key, key) == 0)
            return &s->kv[i];
    return NULL;
}

static void check_duplicates(const struct raw_section *s, const char *path,
                             struct config_errors *errs)
{
    for (size_t i = 0; i < s->nkv; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->kv[i].key, s->kv[j].key) == 0) {
                add_error(errs, path, s->kv[i].line, "'%s' is set twice (first on line %d)",
                          s->kv[i].key, s->kv[j].line);
                break;
            }
}

/* Relative paths are relative to the directory of the config file, so that
 * kanald behaves the same whatever its working directory. */
static char *resolve_path(const char *cfg_path, const char *p)
{
    if (p[0] == '/')
        return xstrdup(p);
    char *copy = xstrdup(cfg_path);
    const char *dir = dirname(copy);
    char *out = xmalloc(strlen(dir) + strlen(p) + 2);
    sprintf(out, "%s/%s", dir, p);
    free(copy);
    return out;
}

/* ---- [kanald] and [api] ---- */

static const struct kanal_option kanald_options[] = {
    {"listen", KANAL_OPT_STRING, "127.0.0.1:8470", 0, "address:port for webhooks, API, metrics",
     NULL},
    {"store", KANAL_OPT_STRING, "/var/lib/kanal", 0, "directory of the LMDB store", NULL},
    {"plugin_dir", KANAL_OPT_STRING, KANAL_PLUGIN_DIR, 0, "where the plugins' .so files are", NULL},
    {"sync", KANAL_OPT_ENUM, "full", 0, "how commits reach the disk", "full|meta|none"},
    {"max_body", KANAL_OPT_SIZE, "1M", 0, "largest request body (413 above)", NULL},
    {"max_header", KANAL_OPT_SIZE, "16K", 0, "largest request head (431 above)", NULL},
    {"max_connections", KANAL_OPT_INT, "1024", 0, "open HTTP connections (503 above)", NULL},
    {"header_timeout", KANAL_OPT_DURATION, "10s", 0, "time to send a request's head", NULL},
    {"request_timeout", KANAL_OPT_DURATION, "30s", 0, "time to send a whole request", NULL},
    {"idle_timeout", KANAL_OPT_DURATION, "60s", 0, "keep-alive time between requests", NULL},
    {"shutdown_timeout", KANAL_OPT_DURATION, "10s", 0, "how long stopping waits for work in flight",
     NULL},
    {"log_level", KANAL_OPT_ENUM, "info", 0, "least important level logged",
     "error|warning|notice|info|debug"},
    {"identity", KANAL_OPT_BOOL, "yes", 0, "resolve the people behind records to contacts", NULL},
    {"public_url", KANAL_OPT_URL, NULL, 0,
     "base URL under which kanald is reachable (tracking links)", NULL},
    {"link_rate", KANAL_OPT_INT, "10", 0, "hits of one link token recorded per minute", NULL},
    {"link_rate_client", KANAL_OPT_INT, "60", 0,
     "hits of /t/ and /u/ links recorded per client address per minute", NULL},
    {"link_rate_table", KANAL_OPT_INT, "10000", 0,
     "tokens and addresses the link rate limiter tracks at once", NULL},
    {"link_field_max", KANAL_OPT_SIZE, "256", 0,
     "bytes of a click's User-Agent and Referer that are stored", NULL},
    {"link_bot_window", KANAL_OPT_DURATION, "10s", 0,
     "a click this soon after its link was sent or made is flagged suspected_bot", NULL},
    {"max_unread_answers", KANAL_OPT_SIZE, "1M", 0,
     "answer bytes a client has not read before kanald stops reading its requests", NULL},
    {"max_pipeline", KANAL_OPT_INT, "32", 0, "requests a connection may have unanswered", NULL},
    {"max_connections_per_ip", KANAL_OPT_INT, "128", 0,
     "open HTTP connections from one client address (503 above)", NULL},
    {"trusted_proxies", KANAL_OPT_STRING, NULL, 0,
     "addresses/CIDRs of fronts whose X-Forwarded-For names the client", NULL},
    {"max_merge_candidates", KANAL_OPT_INT, "10000", 0,
     "open merge candidates kept (asserted evidence naming two contacts)", NULL},
    {"unknown_raw_max", KANAL_OPT_SIZE, "1M", 0,
     "bytes of a plugin's raw payload kanald keeps in an unknown record it must bound", NULL},
    {"score_interval", KANAL_OPT_DURATION, "15m", 0,
     "how often the scores of every audience are computed again (0: only on demand)", NULL},
    {"score_max_audiences", KANAL_OPT_INT, "200", 0,
     "audiences one scoring run computes at most (all and [audience NAME] first)", NULL},
    {"score_half_life", KANAL_OPT_DURATION, "30d", 0,
     "age at which an interaction weighs half as much in the scores (0: no decay)", NULL},
    {"score_event_window", KANAL_OPT_DURATION, "7d", 0,
     "an event's audience takes what its participants did this long before and after it", NULL},
    /* The scores' thresholds (docs/scores.md); score_params_default()
     * has the same defaults. */
    {"score_unanswered_after", KANAL_OPT_DURATION, "24h", 0,
     "a negative or complaint record unanswered this long puts its contact at risk", NULL},
    {"score_risk_window", KANAL_OPT_DURATION, "30d", 0,
     "how recent a negative or complaint record must be to count for risk", NULL},
    {"score_risk_min", KANAL_OPT_INT, "1", 0, "unanswered records that make a contact at_risk",
     NULL},
    {"score_advocate_min", KANAL_OPT_INT, "3", 0,
     "positive mentions plus helpful replies that make an advocate", NULL},
    {"score_advocate_max_negative", KANAL_OPT_INT, "20", 0,
     "percent of its rated records an advocate may have negative or complaining", NULL},
    {"score_key_influence", KANAL_OPT_INT, "200", 0,
     "influence, in percent of the audience's average, that makes a contact key", NULL},
    {"score_critic_min", KANAL_OPT_INT, "2", 0,
     "negative or complaint records that, with score_critic_share, make a critic", NULL},
    {"score_critic_share", KANAL_OPT_INT, "50", 0,
     "percent of its rated records negative or complaining that makes a critic", NULL},
    {"score_polarized_cross", KANAL_OPT_INT, "10", 0,
     "percent of the two camps' weight between them at most for a polarized audience", NULL},
    {"score_polarized_sentiment", KANAL_OPT_INT, "20", 0,
     "mean sentiment, in percent, a community needs at least (either way) to be a camp", NULL},
    {"score_cohesive_star", KANAL_OPT_INT, "60", 0,
     "percent of the connected customers next to one of them that makes an audience cohesive",
     NULL},
    {"score_cohesive_brand", KANAL_OPT_INT, "80", 0,
     "percent of the edge weight to or from the brand that makes an audience cohesive", NULL},
    {"score_polarized_camps", KANAL_OPT_INT, "50", 0,
     "percent of the customers in communities that the two camps must hold to be polarized",
     NULL},
    {"score_critic_echoes", KANAL_OPT_INT, "2", 0,
     "records of others taking up a contact's complaints that make it a critic", NULL},
    {"outbox_cluster", KANAL_OPT_ENUM, "off", 0,
     "in a cluster: core hands sends to the outbox stream, edge takes them from it",
     "off|core|edge"},
    {"outbox_servers", KANAL_OPT_STRING, "nats://127.0.0.1:4222", 0,
     "NATS servers of the outbox stream, comma-separated", NULL},
    {"outbox_stream", KANAL_OPT_STRING, "KANAL_OUTBOX", 0,
     "the JetStream work-queue stream of messages to send", NULL},
    {"outbox_subject", KANAL_OPT_STRING, "kanal.outbox", 0,
     "messages go to <outbox_subject>.<source>", NULL},
    {"outbox_durable", KANAL_OPT_STRING, "kanal-edges", 0,
     "the durable consumer all edge nodes share", NULL},
    {"outbox_ack_wait", KANAL_OPT_DURATION, "60s", 0,
     "time an edge has to send a message before the stream gives it to another", NULL},
    {"outbox_creds", KANAL_OPT_STRING, NULL, 0,
     "path of a NATS .creds file (user JWT and seed) for the outbox stream", NULL},
    {"outbox_nkey", KANAL_OPT_SECRET, NULL, 0, "NKey seed (SU...) for the outbox stream", NULL},
    {"outbox_nkey_public", KANAL_OPT_STRING, NULL, 0, "the public key (U...) of outbox_nkey",
     NULL},
    {"outbox_user", KANAL_OPT_STRING, NULL, 0, "user name for the outbox stream's servers", NULL},
    {"outbox_password", KANAL_OPT_SECRET, NULL, 0, "password of outbox_user", NULL},
    {"outbox_tls_ca", KANAL_OPT_STRING, NULL, 0,
     "CA bundle that verifies the outbox stream's servers (tls:// URLs)", NULL},
    {"state_cluster", KANAL_OPT_ENUM, "off", 0,
     "core: the API's state changes go through the records stream, every core applies them",
     "off|core"},
    {"state_servers", KANAL_OPT_STRING, "nats://127.0.0.1:4222", 0,
     "NATS servers of the records stream, for state changes, comma-separated", NULL},
    {"state_stream", KANAL_OPT_STRING, "KANAL", 0, "the records stream state changes go to",
     NULL},
    {"state_subject", KANAL_OPT_STRING, "kanal.records.kanal.state", 0,
     "their subject: <subject_prefix>.kanal.state of the cores' nats source", NULL},
    {"state_creds", KANAL_OPT_STRING, NULL, 0,
     "path of a NATS .creds file (user JWT and seed) for state_servers", NULL},
    {"state_nkey", KANAL_OPT_SECRET, NULL, 0, "NKey seed (SU...) for state_servers", NULL},
    {"state_nkey_public", KANAL_OPT_STRING, NULL, 0, "the public key (U...) of state_nkey", NULL},
    {"state_user", KANAL_OPT_STRING, NULL, 0, "user name for state_servers", NULL},
    {"state_password", KANAL_OPT_SECRET, NULL, 0, "password of state_user", NULL},
    {"state_tls_ca", KANAL_OPT_STRING, NULL, 0,
     "CA bundle that verifies state_servers (tls:// URLs)", NULL},
    {"link_cluster_queue", KANAL_OPT_INT, "256", 0,
     "state_cluster = core: clicks and opt-outs held waiting for the stream at most", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static const struct kanal_option api_options[] = {
    {"tokens", KANAL_OPT_STRING, NULL, 0, "file of 'name scope secret' lines", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

/* Check a fixed section against its table; values[i] follows the table. */
static void check_fixed(const struct raw_section *s, const struct kanal_option *table,
                        const char *path, struct config_errors *errs, const char *values[],
                        int64_t nums[])
{
    check_duplicates(s, path, errs);
    for (size_t i = 0; i < s->nkv; i++) {
        const struct kanal_option *o = table;
        while (o->name && strcmp(o->name, s->kv[i].key) != 0)
            o++;
        if (!o->name)
            add_error(errs, path, s->kv[i].line, "unknown key '%s' in [%s]", s->kv[i].key, s->name);
    }
    for (size_t i = 0; table[i].name; i++) {
        const struct raw_kv *kv = raw_get(s, table[i].name);
        values[i] = kv ? kv->value : table[i].default_value;
        if (!values[i])
            continue;
        const char *why = "";
        if (parse_value(&table[i], values[i], &nums[i], &why) < 0)
            add_error(errs, path, kv ? kv->line : s->line, "'%s' = '%s': %s", table[i].name,
                      values[i], why);
    }
}

static int parse_listen(const char *text, char **host, int *port)
{
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text)
        return -EINVAL;
    int64_t p;
    if (util_parse_int(colon + 1, &p) < 0 || p < 0 || p > 65535)
        return -EINVAL;
    size_t hl = (size_t)(colon - text);
    if (text[0] == '[' && colon[-1] == ']') {
        text++;
        hl -= 2;
    }
    *host = xmalloc(hl + 1);
    memcpy(*host, text, hl);
    (*host)[hl] = '\0';
    *port = (int)p;
    return 0;
}

static size_t kanald_index(const char *name);

/* The score_* keys into cfg->score, each within its bounds. */
static void apply_score_keys(struct config *cfg, const struct raw_section *s, const char *path,
                             struct config_errors *errs, const int64_t *n)
{
    static const struct {
        const char *name;
        int64_t min, max;
        size_t at; /* offset in struct score_params */
    } keys[] = {
        {"score_unanswered_after", 1, INT64_MAX, offsetof(struct score_params, unanswered_ms)},
        {"score_risk_window", 1, INT64_MAX, offsetof(struct score_params, risk_window_ms)},
        {"score_risk_min", 1, 1000000, offsetof(struct score_params, risk_min)},
        {"score_advocate_min", 1, 1000000, offsetof(struct score_params, advocate_min)},
        {"score_advocate_max_negative", 0, 100,
         offsetof(struct score_params, advocate_max_negative)},
        {"score_key_influence", 1, 1000000, offsetof(struct score_params, key_influence)},
        {"score_critic_min", 1, 1000000, offsetof(struct score_params, critic_min)},
        {"score_critic_share", 0, 100, offsetof(struct score_params, critic_share)},
        {"score_polarized_cross", 0, 100, offsetof(struct score_params, polarized_cross)},
        {"score_polarized_sentiment", 1, 100,
         offsetof(struct score_params, polarized_sentiment)},
        {"score_cohesive_star", 1, 100, offsetof(struct score_params, cohesive_star)},
        {"score_cohesive_brand", 1, 100, offsetof(struct score_params, cohesive_brand)},
        {"score_polarized_camps", 0, 100, offsetof(struct score_params, polarized_camps)},
        {"score_critic_echoes", 1, 1000000, offsetof(struct score_params, critic_echoes)},
    };
    score_params_default(&cfg->score);
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        int64_t v = n[kanald_index(keys[i].name)];
        if (v < keys[i].min || v > keys[i].max) {
            const struct raw_kv *kv = raw_get(s, keys[i].name);
            if (keys[i].max == INT64_MAX)
                add_error(errs, path, kv ? kv->line : s->line, "'%s' must be longer than 0",
                          keys[i].name);
            else
                add_error(errs, path, kv ? kv->line : s->line, "'%s' must be %lld to %lld",
                          keys[i].name, (long long)keys[i].min, (long long)keys[i].max);
            continue;
        }
        memcpy((char *)&cfg->score + keys[i].at, &v, sizeof v);
    }
}

/* Where a key sits in the [kanald] table: apply_kanald() reads values by
 * name, so that keys can be added anywhere in the table. */
static size_t kanald_index(const char *name)
{
    size_t i = 0;
    while (kanald_options[i].name && strcmp(kanald_options[i].name, name) != 0)
        i++;
    return i; /* a name missing from the table is a bug: it reads the NULL entry */
}
#define K(name) kanald_index(name)
static void apply_state_keys(struct config *cfg, const struct raw_section *s, const char *path,
                             struct config_errors *errs, const char *const *v);

/* config_load_for_reader: a store reader (kanalctl) wants the [kanald]
 * values and the audiences, not the secrets kanald's user may read. Set for
 * one config_load on the calling thread only. */
static _Thread_local int for_reader;

/* The credentials of kanald's own NATS connection <prefix>_servers: files
 * relative to the config's folder, secrets resolved as a plugin's are
 * (cred:, file:, env:; never inline), and only combinations that can work. */

static void apply_nats_auth(const struct raw_section *s, const char *path,
                            struct config_errors *errs, const char *const *v, const char *prefix,
                            struct config_nats_auth *out)
{
    char key[6][40];
    static const char *const names[] = {"creds", "nkey", "nkey_public", "user", "password",
                                        "tls_ca"};
    for (size_t i = 0; i < 6; i++)
        snprintf(key[i], sizeof key[i], "%s_%s", prefix, names[i]);
    const char *secrets[] = {key[1], key[4]};
    char **dest[] = {&out->nkey, &out->password};
    for (size_t i = 0; i < ARRAY_SIZE(secrets); i++) {
        const struct raw_kv *kv = raw_get(s, secrets[i]);
        if (!kv || for_reader)
            continue;
        const char *swhy = NULL;
        if (secret_resolve(kv->value, 0, dest[i], &swhy) < 0) {
            add_error(errs, path, kv->line, "secret '%s': %s", secrets[i], swhy);
            continue;
        }
        char file[4096], label[160];
        int kind = secret_file_of(kv->value, file, sizeof file);
        snprintf(label, sizeof label, "secret '%s'", secrets[i]);
        if (kind)
            config_check_secret_file(errs, path, kv->line, label, file, kind);
    }
    if (v[K(key[0])])
        out->creds = resolve_path(path, v[K(key[0])]);
    if (v[K(key[5])])
        out->tls_ca = resolve_path(path, v[K(key[5])]);
    if (v[K(key[2])])
        out->nkey_public = xstrdup(v[K(key[2])]);
    if (v[K(key[3])])
        out->user = xstrdup(v[K(key[3])]);
    int has_creds = raw_get(s, key[0]) != NULL, has_nkey = raw_get(s, key[1]) != NULL;
    int has_pub = raw_get(s, key[2]) != NULL, has_user = raw_get(s, key[3]) != NULL;
    int has_pw = raw_get(s, key[4]) != NULL;
    const struct raw_kv *kv = NULL;
    if (has_user != has_pw) {
        kv = raw_get(s, has_user ? key[3] : key[4]);
        add_error(errs, path, kv->line, "'%s' and '%s' go together", key[3], key[4]);
    } else if (has_nkey != has_pub) {
        kv = raw_get(s, has_nkey ? key[1] : key[2]);
        add_error(errs, path, kv->line, "'%s' and '%s' go together", key[1], key[2]);
    } else if (has_creds + has_nkey + has_user > 1) {
        kv = raw_get(s, has_creds ? key[0] : key[1]);
        add_error(errs, path, kv->line, "choose one of %s, %s or %s + %s", key[0], key[1],
                  key[3], key[4]);
    }
}

static void free_nats_auth(struct config_nats_auth *a)
{
    free(a->creds);
    free(a->nkey_public);
    free(a->user);
    free(a->tls_ca);
    if (a->nkey)
        secret_wipe(a->nkey);
    if (a->password)
        secret_wipe(a->password);
    free(a->nkey);
    free(a->password);
}

static void apply_kanald(struct config *cfg, const struct raw_section *s, const char *path,
                         struct config_errors *errs)
{
    static const struct raw_section empty = {.name = "kanald"};
    if (!s)
        s = &empty;
    const char *v[ARRAY_SIZE(kanald_options)] = {0};
    int64_t n[ARRAY_SIZE(kanald_options)] = {0};
    check_fixed(s, kanald_options, path, errs, v, n);
    if (parse_listen(v[K("listen")], &cfg->listen_host, &cfg->listen_port) < 0) {
        const struct raw_kv *kv = raw_get(s, "listen");
        add_error(errs, path, kv ? kv->line : s->line,
                  "'listen' = '%s': expected address:port, e.g. 127.0.0.1:8470", v[K("listen")]);
    }
    cfg->store = resolve_path(path, v[K("store")]);
    cfg->plugin_dir = resolve_path(path, v[K("plugin_dir")]);
    cfg->sync = strcmp(v[K("sync")], "meta") == 0   ? SYNC_META
                : strcmp(v[K("sync")], "none") == 0 ? SYNC_NONE
                                                    : SYNC_FULL;
    cfg->max_body = n[K("max_body")];
    cfg->max_header = n[K("max_header")];
    cfg->max_connections = n[K("max_connections")];
    cfg->header_timeout_ms = n[K("header_timeout")];
    cfg->request_timeout_ms = n[K("request_timeout")];
    cfg->idle_timeout_ms = n[K("idle_timeout")];
    cfg->shutdown_timeout_ms = n[K("shutdown_timeout")];
    int level = log_level_parse(v[K("log_level")]);
    cfg->log_level = level < 0 ? KANAL_LOG_INFO : level;
    cfg->identity = (int)n[K("identity")];
    if (v[K("public_url")]) {
        cfg->public_url = xstrdup(v[K("public_url")]);
        size_t ul = strlen(cfg->public_url);
        while (ul > 0 && cfg->public_url[ul - 1] == '/')
            cfg->public_url[--ul] = '\0';
    }
    cfg->max_merge_candidates = n[K("max_merge_candidates")];
    if (cfg->max_merge_candidates < 0) {
        const struct raw_kv *kv = raw_get(s, "max_merge_candidates");
        add_error(errs, path, kv ? kv->line : s->line, "'max_merge_candidates' must be at least 0");
    }
    if (cfg->max_connections < 1) {
        const struct raw_kv *kv = raw_get(s, "max_connections");
        add_error(errs, path, kv ? kv->line : s->line, "'max_connections' must be at least 1");
    }
    cfg->link_rate = n[K("link_rate")];
    cfg->link_rate_client = n[K("link_rate_client")];
    cfg->link_rate_table = n[K("link_rate_table")];
    cfg->link_field_max = n[K("link_field_max")];
    cfg->link_bot_window_ms = n[K("link_bot_window")];
    cfg->unknown_raw_max = n[K("unknown_raw_max")];
    if (cfg->unknown_raw_max < 64) {
        const struct raw_kv *kv = raw_get(s, "unknown_raw_max");
        add_error(errs, path, kv ? kv->line : s->line, "'unknown_raw_max' must be at least 64");
    }
    /* The limiter's table is allocated whole: keep it to a few hundred MB. */
    static const struct {
        const char *name;
        int64_t min, max;
    } link_bounds[] = {{"link_rate", 1, 1000000},
                       {"link_rate_client", 1, 1000000},
                       {"link_rate_table", 16, 10000000},
                       {"link_field_max", 16, 8192}};
    const int64_t link_vals[] = {cfg->link_rate, cfg->link_rate_client, cfg->link_rate_table,
                                 cfg->link_field_max};
    for (size_t i = 0; i < ARRAY_SIZE(link_bounds); i++)
        if (link_vals[i] < link_bounds[i].min || link_vals[i] > link_bounds[i].max) {
            const struct raw_kv *kv = raw_get(s, link_bounds[i].name);
            add_error(errs, path, kv ? kv->line : s->line, "'%s' must be %lld to %lld",
                      link_bounds[i].name, (long long)link_bounds[i].min,
                      (long long)link_bounds[i].max);
        }
    cfg->link_cluster_queue = n[K("link_cluster_queue")];
    if (cfg->link_cluster_queue < 1 || cfg->link_cluster_queue > 1000000) {
        const struct raw_kv *kv = raw_get(s, "link_cluster_queue");
        add_error(errs, path, kv ? kv->line : s->line, "'link_cluster_queue' must be 1 to 1000000");
    }
    cfg->max_unread_answers = n[K("max_unread_answers")];
    cfg->max_pipeline = n[K("max_pipeline")];
    cfg->max_connections_per_ip = n[K("max_connections_per_ip")];
    static const char *const at_least_one[] = {"max_unread_answers", "max_pipeline",
                                               "max_connections_per_ip"};
    for (size_t i = 0; i < ARRAY_SIZE(at_least_one); i++) {
        if (n[K(at_least_one[i])] >= 1)
            continue;
        const struct raw_kv *kv = raw_get(s, at_least_one[i]);
        add_error(errs, path, kv ? kv->line : s->line, "'%s' must be at least 1", at_least_one[i]);
    }
    cfg->score_interval_ms = n[K("score_interval")];
    cfg->score_max_audiences = n[K("score_max_audiences")];
    cfg->score_half_life_ms = n[K("score_half_life")];
    cfg->score_event_window_ms = n[K("score_event_window")];
    if (cfg->score_max_audiences < 1 || cfg->score_max_audiences > 100000) {
        const struct raw_kv *kv = raw_get(s, "score_max_audiences");
        add_error(errs, path, kv ? kv->line : s->line, "'score_max_audiences' must be 1 to 100000");
    }
    if (v[K("trusted_proxies")]) {
        char bad[80];
        int np =
            net_cidr_list_parse(v[K("trusted_proxies")], &cfg->trusted_proxies, bad, sizeof bad);
        if (np < 0) {
            const struct raw_kv *kv = raw_get(s, "trusted_proxies");
            add_error(errs, path, kv ? kv->line : s->line,
                      "'trusted_proxies': '%s' is not an IPv4 or IPv6 address or CIDR block "
                      "(e.g. 127.0.0.1, 10.0.0.0/8, ::1)",
                      bad);
        } else {
            cfg->ntrusted_proxies = (size_t)np;
        }
    }
    apply_score_keys(cfg, s, path, errs, n);
    cfg->outbox_cluster = xstrdup(v[K("outbox_cluster")]);
    cfg->outbox_servers = xstrdup(v[K("outbox_servers")]);
    cfg->outbox_stream = xstrdup(v[K("outbox_stream")]);
    cfg->outbox_subject = xstrdup(v[K("outbox_subject")]);
    cfg->outbox_durable = xstrdup(v[K("outbox_durable")]);
    cfg->outbox_ack_wait_ms = n[K("outbox_ack_wait")];
    static const char *const names[] = {"outbox_stream", "outbox_subject", "outbox_durable"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        const char *val = v[K(names[i])];
        /* A name token (the stream, the durable) or subject tokens. */
        if (!*val || strpbrk(val, i == 1 ? " *>\t" : ". *>\t")) {
            const struct raw_kv *kv = raw_get(s, names[i]);
            add_error(errs, path, kv ? kv->line : s->line,
                      "'%s' = '%s': no blanks or wildcards%s", names[i], val,
                      i == 1 ? "" : ", and no '.'");
        }
    }
    /* Checked here, so that a core never starts without its way to the
     * edges (it would neither send nor hand on). */
    char *urls = xstrdup(cfg->outbox_servers);
    int nurls = 0;
    for (char *save = NULL, *t = strtok_r(urls, ", \t", &save); t;
         t = strtok_r(NULL, ", \t", &save), nurls++)
        if ((strncmp(t, "nats://", 7) && strncmp(t, "tls://", 6)) || !strchr(t, ':')[3]) {
            const struct raw_kv *kv = raw_get(s, "outbox_servers");
            add_error(errs, path, kv ? kv->line : s->line,
                      "'outbox_servers': '%s' is not a nats:// or tls:// URL", t);
            break;
        }
    free(urls);
    if (!nurls || nurls > 32) {
        const struct raw_kv *kv = raw_get(s, "outbox_servers");
        add_error(errs, path, kv ? kv->line : s->line, "'outbox_servers' wants 1 to 32 URLs");
    }
    if (cfg->outbox_ack_wait_ms < 1000) {
        const struct raw_kv *kv = raw_get(s, "outbox_ack_wait");
        add_error(errs, path, kv ? kv->line : s->line, "'outbox_ack_wait' must be at least 1s");
    }
    apply_nats_auth(s, path, errs, v, "outbox", &cfg->outbox_auth);
    apply_nats_auth(s, path, errs, v, "state", &cfg->state_auth);
    apply_state_keys(cfg, s, path, errs, v);
}

/* The [kanald] state_* keys: a core's state changes through the stream. */
static void apply_state_keys(struct config *cfg, const struct raw_section *s, const char *path,
                             struct config_errors *errs, const char *const *v)
{
    cfg->state_cluster = xstrdup(v[K("state_cluster")]);
    cfg->state_servers = xstrdup(v[K("state_servers")]);
    cfg->state_stream = xstrdup(v[K("state_stream")]);
    cfg->state_subject = xstrdup(v[K("state_subject")]);
    const char *bad = NULL, *key = NULL;
    if (!*cfg->state_stream || strpbrk(cfg->state_stream, ". *>\t"))
        bad = "no blanks, wildcards or '.'", key = "state_stream";
    else if (!*cfg->state_subject || strpbrk(cfg->state_subject, " *>\t"))
        bad = "no blanks or wildcards", key = "state_subject";
    int nurls = 0;
    char *urls = xstrdup(cfg->state_servers);
    for (char *save = NULL, *t = strtok_r(urls, ", \t", &save); t && !bad;
         t = strtok_r(NULL, ", \t", &save), nurls++)
        if ((strncmp(t, "nats://", 7) && strncmp(t, "tls://", 6)) || !strchr(t, ':')[3])
            bad = "not nats:// or tls:// URLs", key = "state_servers";
    free(urls);
    if (!bad && (!nurls || nurls > 32))
        bad = "1 to 32 URLs wanted", key = "state_servers";
    if (bad) {
        const struct raw_kv *kv = raw_get(s, key);
        add_error(errs, path, kv ? kv->line : s->line, "'%s': %s", key, bad);
    }
}

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

static void build_source(struct config *cfg, const struct raw_section *s, const char *name,
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

static int stage_role(const char *section);
static void resolve_acks(struct config *cfg, const char *path, struct config_errors *errs);
static void build_audience(struct config *cfg, const struct raw_section *s, const char *path,
                           struct config_errors *errs);
static void build_stage(struct config *cfg, const struct raw_section *s, struct loader *loader,
                        const char *path, struct config_errors *errs);

int config_load(const char *path, struct loader *loader, struct config **out,
                struct config_errors *errs)
{
    *out = NULL;
    struct raw_ini ri = {.path = path, .errs = errs};
    ri.f = fopen(path, "r");
    if (!ri.f) {
        add_error(errs, path, 0, "cannot open: %s", strerror(errno));
        return KANAL_ECONFIG;
    }
    ini_allow_multiline = true; /* indented lines continue a value */
    ini_stop_on_first_error = 0;
    int r = ini_parse_stream(counting_reader, &ri, on_ini_pair, &ri);
    fclose(ri.f);
    if (r > 0)
        add_error(errs, path, r, "syntax error: expected [section] or key = value");

    struct config *cfg = xcalloc(1, sizeof *cfg);
    cfg->path = xstrdup(path);
    const struct raw_section *kanald = NULL, *api = NULL;
    for (size_t i = 0; i < ri.nsec; i++) {
        const struct raw_section *s = &ri.sec[i];
        if (strcmp(s->name, "kanald") == 0 || strcmp(s->name, "api") == 0) {
            const struct raw_section **slot = s->name[0] == 'k' ? &kanald : &api;
            if (*slot)
                add_error(errs, path, s->line, "[%s] appears twice (first on line %d)", s->name,
                          (*slot)->line);
            else
                *slot = s;
        } else if (strcmp(s->name, "") == 0) {
            add_error(errs, path, s->kv ? s->kv[0].line : s->line, "key '%s' outside any section",
                      s->kv ? s->kv[0].key : "");
        } else if (strncmp(s->name, "audience ", 9) == 0) {
            build_audience(cfg, s, path, errs);
        } else if (strncmp(s->name, "source ", 7) != 0 && !stage_role(s->name)) {
            add_error(errs, path, s->line,
                      "unknown section [%s]; expected [kanald], [api], [source NAME], "
                      "[processor NAME], [sink NAME] or [audience NAME]",
                      s->name);
        }
    }
    apply_kanald(cfg, kanald, path, errs);
    if (api && !for_reader) {
        const char *v[ARRAY_SIZE(api_options)] = {0};
        int64_t n[ARRAY_SIZE(api_options)] = {0};
        check_fixed(api, api_options, path, errs, v, n);
        if (v[0]) {
            cfg->api_tokens = resolve_path(path, v[0]);
            errs->api_tokens = xstrdup(cfg->api_tokens);
        }
    }

    int have_sources = 0;
    for (size_t i = 0; i < ri.nsec; i++)
        if (strncmp(ri.sec[i].name, "source ", 7) == 0 || stage_role(ri.sec[i].name))
            have_sources = 1;
    if (have_sources && !for_reader) {
        int nmods = loader_scan(loader, cfg->plugin_dir);
        if (nmods < 0)
            add_error(errs, path, kanald ? kanald->line : 1, "cannot read plugin_dir %s: %s",
                      cfg->plugin_dir, strerror(-nmods));
        else
            for (size_t i = 0; i < ri.nsec; i++)
                if (strncmp(ri.sec[i].name, "source ", 7) == 0) {
                    const char *name = ri.sec[i].name + 7;
                    while (*name == ' ')
                        name++;
                    build_source(cfg, &ri.sec[i], name, loader, path, errs);
                } else if (stage_role(ri.sec[i].name)) {
                    build_stage(cfg, &ri.sec[i], loader, path, errs);
                }
        resolve_acks(cfg, path, errs);
    }
    raw_free(&ri);
    if (errs->n) {
        config_free(cfg);
        return KANAL_ECONFIG;
    }
    *out = cfg;
    return 0;
}

int config_load_for_reader(const char *path, struct config **out, struct config_errors *errs)
{
    for_reader = 1;
    int rc = config_load(path, NULL, out, errs);
    for_reader = 0;
    return rc;
}

static void source_config_clear(struct source_config *sc)
{
    for (size_t i = 0; i < sc->nvalues; i++) {
        if (sc->values[i].text && sc->values[i].spec->type == KANAL_OPT_SECRET)
            secret_wipe(sc->values[i].text);
        free(sc->values[i].text);
    }
    free(sc->values);
    free(sc->name);
    free(sc->ack_sink);
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nsources; i++)
        source_config_clear(&cfg->sources[i]);
    free(cfg->sources);
    for (size_t i = 0; i < cfg->nprocessors; i++)
        source_config_clear(&cfg->processors[i]);
    free(cfg->processors);
    for (size_t i = 0; i < cfg->nsinks; i++)
        source_config_clear(&cfg->sinks[i]);
    free(cfg->sinks);
    free(cfg->trusted_proxies);
    free(cfg->path);
    free(cfg->listen_host);
    free(cfg->store);
    free(cfg->plugin_dir);
    free(cfg->api_tokens);
    free(cfg->public_url);
    free(cfg->outbox_cluster);
    free(cfg->state_cluster);
    free(cfg->state_servers);
    free(cfg->state_stream);
    free(cfg->state_subject);
    free(cfg->outbox_servers);
    free(cfg->outbox_stream);
    free(cfg->outbox_subject);
    free(cfg->outbox_durable);
    free_nats_auth(&cfg->outbox_auth);
    free_nats_auth(&cfg->state_auth);
    for (size_t i = 0; i < cfg->naudiences; i++) {
        free(cfg->audiences[i].name);
        free(cfg->audiences[i].match);
    }
    free(cfg->audiences);
    free(cfg);
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

const struct kanal_option config_processor_options[] = {
    {"plugin", KANAL_OPT_STRING, NULL, 1, "name of the plugin serving this processor", NULL},
    {"match", KANAL_OPT_STRING, NULL, 0,
     "which records it sees, e.g. 'source:wa-main channel:email kind:message,comment' "
     "(unset: all)",
     NULL},
    {"budget", KANAL_OPT_DURATION, "5ms", 0,
     "time one record may take; an overrun keeps the record without the annotation", NULL},
    {"insecure_inline_secrets", KANAL_OPT_BOOL, "no", 0,
     "allow secrets written inline in this file (development only)", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

const struct kanal_option config_sink_options[] = {
    {"plugin", KANAL_OPT_STRING, NULL, 1, "name of the plugin serving this sink", NULL},
    {"batch_max", KANAL_OPT_INT, "100", 0, "records per delivery at most", NULL},
    {"max_inflight", KANAL_OPT_INT, "1000", 0,
     "records delivered but not yet acknowledged, at most", NULL},
    {"max_lag", KANAL_OPT_DURATION, "1h", 0,
     "/healthz is degraded while the oldest unacknowledged record is older", NULL},
    {"insecure_inline_secrets", KANAL_OPT_BOOL, "no", 0,
     "allow secrets written inline in this file (development only)", NULL},
    {"ack", KANAL_OPT_ENUM, "local", 0,
     "cluster: every source's answer waits until this sink has acknowledged its records (a "
     "source may say ack = local)",
     "local|cluster"},
    {"ack_timeout", KANAL_OPT_DURATION, "5s", 0,
     "how long an answer waits for this sink's acknowledgement; then 503 + Retry-After (the "
     "records stay committed and are delivered later)",
     NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static int stage_role(const char *section)
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

static void build_stage(struct config *cfg, const struct raw_section *s, struct loader *loader,
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
static void resolve_acks(struct config *cfg, const char *path, struct config_errors *errs)
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

/* ---- [audience NAME]: the operator's audiences for scores ---- */

const struct kanal_option config_audience_options[] = {
    {"match", KANAL_OPT_STRING, NULL, 1,
     "which records belong: FIELD:VALUE[,VALUE...] words, all met, FIELD one of source, "
     "channel, kind, campaign, event, thread, within (a duration), e.g. "
     "'source:fb kind:comment within:90d'",
     NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static void build_audience(struct config *cfg, const struct raw_section *s, const char *path,
                           struct config_errors *errs)
{
    const char *name = s->name + 9;
    while (*name == ' ')
        name++;
    const char *v[ARRAY_SIZE(config_audience_options)] = {0};
    int64_t n[ARRAY_SIZE(config_audience_options)] = {0};
    check_fixed(s, config_audience_options, path, errs, v, n);
    if (!audience_name_ok(name)) {
        add_error(errs, path, s->line,
                  "[audience %s]: a name is 1-64 of A-Z a-z 0-9 _ . - and not 'all' (the "
                  "built-in audiences are all, source:, channel:, campaign:, event:, thread:)",
                  name);
        return;
    }
    for (size_t i = 0; i < cfg->naudiences; i++)
        if (strcmp(cfg->audiences[i].name, name) == 0) {
            add_error(errs, path, s->line, "[audience %s] appears twice (first on line %d)", name,
                      cfg->audiences[i].line);
            return;
        }
    const struct raw_kv *kv = raw_get(s, "match");
    if (!kv) {
        add_error(errs, path, s->line, "[audience %s]: 'match' is required", name);
        return;
    }
    const char *why = audience_match_check(kv->value);
    if (why) {
        add_error(errs, path, kv->line, "[audience %s]: 'match' = '%s': %s", name, kv->value, why);
        return;
    }
    cfg->audiences = xrealloc(cfg->audiences, (cfg->naudiences + 1) * sizeof *cfg->audiences);
    cfg->audiences[cfg->naudiences++] = (struct config_audience){
        .name = xstrdup(name), .line = s->line, .match = xstrdup(kv->value)};
}
