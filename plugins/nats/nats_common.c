/* SPDX-License-Identifier: Apache-2.0 */
/* The nats plugin's connection options, stream check and subjects. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nats_common.h"
#include "nkey.h"

int kanal_nats_opts_check(const struct kanal_host *host, struct kanal_source *src,
                          const struct kanal_nats_opts *o)
{
    const char *bad = NULL;
    if (!o->servers || !*o->servers)
        bad = "servers is empty";
    else if (!o->stream || !*o->stream || strpbrk(o->stream, ". *>\t"))
        bad = "stream must be a name without '.', '*', '>' or blanks";
    else if (!o->subject_prefix || !*o->subject_prefix || strpbrk(o->subject_prefix, " *>\t"))
        bad = "subject_prefix must be subject tokens without wildcards or blanks";
    else if (!!o->user != !!o->password)
        bad = "user and password go together";
    else if (!!o->nkey != !!o->nkey_public)
        bad = "nkey and nkey_public go together";
    else if ((o->creds != NULL) + (o->nkey != NULL) + (o->user != NULL) > 1)
        bad = "choose one of creds, nkey or user + password";
    if (bad) {
        host->log(src, KANAL_LOG_ERR, "%s", bad);
        return KANAL_ECONFIG;
    }
    /* What can never work is refused here, at start: the sink and source
     * try a refused connection again for ever (a server's refusal is often
     * transient), which would hide it. */
    if (o->creds && access(o->creds, R_OK) != 0) {
        host->log(src, KANAL_LOG_ERR, "creds: cannot read %s: %s", o->creds, strerror(errno));
        return KANAL_ECONFIG;
    }
    if (o->nkey) {
        unsigned char *sig = NULL;
        int sig_len = 0;
        int rc = kanal_nkey_sign(o->nkey, (const unsigned char *)"kanal", 5, &sig, &sig_len);
        free(sig);
        if (rc == -EINVAL) {
            host->log(src, KANAL_LOG_ERR, "nkey is not a NATS user seed (SU...)");
            return KANAL_ECONFIG;
        }
    }
    return 0;
}

/* Signed by kanal, not by libnats' nats_Sign, which fails while libnats
 * initialises (nkey.h). */
static natsStatus sign_nonce(char **err, unsigned char **sig, int *sig_len, const char *nonce,
                             void *arg)
{
    /* A server that has no NKey users sends no nonce (and refuses the
     * connection, for an operator to fix): sign an empty one. */
    if (!nonce)
        nonce = "";
    int rc = kanal_nkey_sign(arg, (const unsigned char *)nonce, strlen(nonce), sig, sig_len);
    if (rc == 0)
        return NATS_OK;
    if (err)
        *err = strdup(rc == -EINVAL ? "the nkey is not a NATS user seed (SU...)"
                                    : "cannot sign with the nkey");
    return NATS_ERR;
}

int64_t kanal_nats_backoff_ms(int attempts)
{
    int shift = attempts < 0 ? 0 : attempts < 6 ? attempts : 6;
    int64_t ms = 100LL << shift;
    return ms > 5000 ? 5000 : ms;
}

int64_t kanal_nats_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

struct timespec kanal_nats_deadline(int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    return until;
}

void kanal_nats_conn_why(natsStatus st, const char *detail, char *why, size_t len)
{
    const char *text = natsStatus_GetText(st), *at;
    if (detail && *detail == '(' && (at = strstr(detail, "): ")))
        detail = at + 3; /* libnats' "(conn.c:1905): " */
    if (!detail || !*detail || !strcmp(detail, text))
        detail = NULL;
    snprintf(why, len, "%s%s%s", text, detail ? ": " : "", detail ? detail : "");
}

/* Reconnecting after a lost connection: the same backoff. */
static int64_t reconnect_delay(natsConnection *nc, int attempts, void *arg)
{
    (void)nc;
    (void)arg;
    return kanal_nats_backoff_ms(attempts);
}

int kanal_nats_options(const struct kanal_nats_opts *o, natsOptions **out, char *why,
                       size_t why_len)
{
    natsOptions *opts = NULL;
    char *list = strdup(o->servers);
    const char *urls[32];
    int n = 0;
    natsStatus st = list ? natsOptions_Create(&opts) : NATS_NO_MEMORY;
    for (char *save = NULL, *t = list ? strtok_r(list, ", \t", &save) : NULL; t && n < 32;
         t = strtok_r(NULL, ", \t", &save))
        urls[n++] = t;
    const char *what = "servers";
    if (st == NATS_OK)
        st = natsOptions_SetServers(opts, urls, n);
    if (st == NATS_OK)
        st = natsOptions_SetMaxReconnect(opts, -1);
    if (st == NATS_OK)
        st = natsOptions_SetReconnectBufSize(opts, 64 * 1024 * 1024);
    if (st == NATS_OK)
        st = natsOptions_SetCustomReconnectDelay(opts, reconnect_delay, NULL);
    if (st == NATS_OK && o->user) {
        what = "user";
        st = natsOptions_SetUserInfo(opts, o->user, o->password);
    }
    if (st == NATS_OK && o->creds) {
        what = "creds";
        st = natsOptions_SetUserCredentialsFromFiles(opts, o->creds, NULL);
    }
    if (st == NATS_OK && o->nkey) {
        what = "nkey";
        st = natsOptions_SetNKey(opts, o->nkey_public, sign_nonce, (void *)o->nkey);
    }
    if (st == NATS_OK && o->tls_ca) {
        what = "tls_ca";
        st = natsOptions_LoadCATrustedCertificates(opts, o->tls_ca);
    }
    free(list);
    if (st != NATS_OK) {
        snprintf(why, why_len, "%s: %s", what, natsStatus_GetText(st));
        natsOptions_Destroy(opts);
        return KANAL_ECONFIG;
    }
    *out = opts;
    return 0;
}

/* Does the stream subject pattern pat cover every subject under want.> ? */
static int covers(const char *pat, const char *want)
{
    if (!strcmp(pat, ">"))
        return 1;
    size_t pl = strlen(pat), wl = strlen(want);
    /* "<prefix>.>" or a shorter "<head>.>" of the prefix's tokens */
    if (pl >= 2 && !strcmp(pat + pl - 2, ".>")) {
        size_t hl = pl - 2;
        return hl <= wl && !strncmp(pat, want, hl) && (want[hl] == '.' || want[hl] == '\0');
    }
    return 0;
}

int kanal_nats_check_stream(jsCtx *js, const struct kanal_nats_opts *o, char *why, size_t why_len)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 2000; /* the caller's thread waits this long at most */
    natsStatus st = js_GetStreamInfo(&si, js, o->stream, &jo, &jerr);
    if (st == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
        snprintf(why, why_len,
                 "stream %s does not exist (create it with kanalctl cluster init); refusing to "
                 "publish",
                 o->stream);
        return KANAL_ECONFIG;
    }
    if (st != NATS_OK || !si || !si->Config) {
        snprintf(why, why_len, "stream %s cannot be checked: %s", o->stream,
                 natsStatus_GetText(st));
        jsStreamInfo_Destroy(si);
        return -EAGAIN;
    }
    const jsStreamConfig *c = si->Config;
    size_t at = 0;
    int bad = 0;
    at += (size_t)snprintf(why, why_len, "stream %s is mis-configured:", o->stream);
    if (c->Storage != js_FileStorage && at < why_len) {
        at += (size_t)snprintf(why + at, why_len - at, " storage is memory, needs file;");
        bad = 1;
    }
    if (c->Duplicates <= 0 && at < why_len) {
        at += (size_t)snprintf(why + at, why_len - at,
                               " no duplicate_window, needs one (2m) for Nats-Msg-Id;");
        bad = 1;
    }
    char want[300];
    snprintf(want, sizeof want, "%s", o->subject_prefix);
    int covered = 0;
    for (int i = 0; i < c->SubjectsLen && !covered; i++)
        covered = covers(c->Subjects[i], want);
    if (!covered && at < why_len) {
        at += (size_t)snprintf(why + at, why_len - at, " subjects [");
        for (int i = 0; i < c->SubjectsLen && at < why_len; i++)
            at += (size_t)snprintf(why + at, why_len - at, "%s%s", i ? ", " : "", c->Subjects[i]);
        if (at < why_len)
            snprintf(why + at, why_len - at, "] do not cover %s.>;", want);
        bad = 1;
    }
    jsStreamInfo_Destroy(si);
    return bad ? KANAL_ECONFIG : 0;
}

static void put_token(char *out, size_t *at, const char *t)
{
    if (!t || !*t)
        t = "_";
    for (; *t; t++)
        out[(*at)++] = strchr(".*> \t\r\n", *t) ? '_' : *t;
}

char *kanal_nats_subject(const char *prefix, const char *source, const char *kind)
{
    size_t cap = strlen(prefix) + (source ? strlen(source) : 1) + (kind ? strlen(kind) : 1) + 4;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    size_t at = strlen(prefix);
    memcpy(s, prefix, at);
    s[at++] = '.';
    put_token(s, &at, source);
    s[at++] = '.';
    put_token(s, &at, kind);
    s[at] = '\0';
    return s;
}

/* ---- a stored record's fields without parsing it whole (the sink's) ---- */

/* The end of the JSON string at p (its opening quote), NULL when it does
 * not end before end; *esc is set when it has an escape. */
static const char *str_end(const char *p, const char *end, int *esc)
{
    for (p++; p < end; p++) {
        if (*p == '\\') {
            *esc = 1;
            p++;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

/* The end of the JSON value at p, NULL when it does not end before end. */
static const char *value_end(const char *p, const char *end)
{
    int depth = 0, esc = 0;
    if (p >= end)
        return NULL;
    if (*p != '"' && *p != '{' && *p != '[') { /* a number, true, false, null */
        while (p < end && *p && !strchr(",}] \t\r\n", *p))
            p++;
        return p;
    }
    do {
        if (*p == '"') {
            if (!(p = str_end(p, end, &esc)))
                return NULL;
            continue;
        }
        if (*p == '{' || *p == '[')
            depth++;
        else if (*p == '}' || *p == ']')
            depth--;
        p++;
    } while (p < end && depth > 0);
    return depth == 0 ? p : NULL;
}

static const char *skip_blank(const char *p, const char *end)
{
    while (p < end && strchr(" \t\r\n", *p) && *p)
        p++;
    return p;
}

void kanal_nats_fields_free(struct kanal_nats_fields *f)
{
    free(f->id);
    free(f->source);
    free(f->kind);
    memset(f, 0, sizeof *f);
}

const char *kanal_nats_scan_record(const char *p, const char *end, struct kanal_nats_fields *f)
{
    memset(f, 0, sizeof *f);
    if (p >= end || *p != '{')
        return NULL;
    p = skip_blank(p + 1, end);
    while (p < end && *p == '"') {
        int esc = 0;
        const char *k = p + 1, *ke = str_end(p, end, &esc);
        if (!ke || esc)
            goto odd;
        size_t kl = (size_t)(ke - 1 - k);
        p = skip_blank(ke, end);
        if (p >= end || *p != ':')
            goto odd;
        const char *v = skip_blank(p + 1, end), *ve = value_end(v, end);
        if (!ve)
            goto odd;
        char **str = kl == 2 && !memcmp(k, "id", 2)       ? &f->id
                     : kl == 6 && !memcmp(k, "source", 6) ? &f->source
                     : kl == 4 && !memcmp(k, "kind", 4)   ? &f->kind
                                                          : NULL;
        if (str) {
            int vesc = 0;
            if (*v != '"' || str_end(v, end, &vesc) != ve || vesc || *str)
                goto odd;
            if (!(*str = strndup(v + 1, (size_t)(ve - v - 2))))
                goto odd;
        } else if (kl == 3 && !memcmp(k, "seq", 3)) {
            if (ve - v < 1 || ve - v > 18 || f->seq)
                goto odd;
            for (const char *d = v; d < ve; d++) {
                if (*d < '0' || *d > '9')
                    goto odd;
                f->seq = f->seq * 10 + (*d - '0');
            }
        }
        p = skip_blank(ve, end);
        if (p < end && *p == ',')
            p = skip_blank(p + 1, end);
        else
            break;
    }
    if (p < end && *p == '}')
        return p + 1;
odd:
    kanal_nats_fields_free(f);
    return NULL;
}
