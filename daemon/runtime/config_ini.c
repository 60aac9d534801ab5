/* SPDX-License-Identifier: Apache-2.0 */
/* The configuration file read: inih's reader counting lines (and refusing
 * lines inih would cut), its handler collecting sections and keys (a
 * value continued on indented lines joined), the list of errors and
 * warnings, and the values as each option type reads them.  Part of the
 * configuration (config.c). */
#include "config_int.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

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

/* inih hands no line numbers to the handler, but it reads through this
 * function one line at a time, so counting here tells where we are. */
/* libinih reads a line into a buffer of INI_MAX_LINE bytes (200 in
 * Debian's build, fixed when it was compiled) and would take the rest of a
 * longer one for a line of its own: such a line is refused here with its
 * number, and the way to write a long value (continued on indented lines). */
char *counting_reader(char *str, int num, void *stream)
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

int on_ini_pair(void *user, const char *section, const char *name, const char *value)
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

void raw_free(struct raw_ini *ri)
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

int parse_value(const struct kanal_option *o, const char *text, int64_t *num, const char **why)
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

const struct raw_kv *raw_get(const struct raw_section *s, const char *key)
{
    for (size_t i = 0; i < s->nkv; i++)
        if (strcmp(s->kv[i].key, key) == 0)
            return &s->kv[i];
    return NULL;
}

void check_duplicates(const struct raw_section *s, const char *path, struct config_errors *errs)
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
char *resolve_path(const char *cfg_path, const char *p)
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
