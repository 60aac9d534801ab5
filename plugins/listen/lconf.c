/* SPDX-License-Identifier: Apache-2.0 */
/* The listen plugin's configuration beyond plain options: the feed and
 * page lists, and the adapters files.
 *
 *   feeds    = URL URL ...                      (spaces or commas between)
 *   pages    = URL = ADAPTER, URL = ADAPTER ... (commas between)
 *   adapters = FILE FILE ...
 *
 * An adapters file holds [adapter NAME] sections of key = value lines:
 * entry (absolute XPath, one node per entry), id, author, time, title,
 * text, link (XPaths relative to the entry), next (absolute XPath of the
 * next page's link) and kind (mention or post).  '#' and ';' start a
 * comment line. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "listen.h"

#define MAX_TARGETS 1000

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int http_url(const char *u)
{
    return strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0;
}

static int add_target(struct listen *L, const char *url, const struct ladapter *a)
{
    if (L->nt >= MAX_TARGETS) {
        L->host->log(L->src, KANAL_LOG_ERR, "more than %d feeds and pages", MAX_TARGETS);
        return KANAL_ECONFIG;
    }
    if (!http_url(url) || strpbrk(url, " \t\r\n")) {
        L->host->log(L->src, KANAL_LOG_ERR, "'%.200s' is not an http(s) URL", url);
        return KANAL_ECONFIG;
    }
    struct ltarget *t = realloc(L->t, (L->nt + 1) * sizeof *t);
    if (!t)
        return -ENOMEM;
    L->t = t;
    t = &L->t[L->nt];
    memset(t, 0, sizeof *t);
    if (!(t->url = strdup(url)))
        return -ENOMEM;
    t->adapter = a;
    unsigned char d[32];
    char hex[65];
    L->host->hmac_sha256("kanal-listen", 12, url, strlen(url), d);
    L->host->hex_encode(d, 16, hex);
    snprintf(t->key, sizeof t->key, "%s:%.32s", a ? "page" : "feed", hex);
    L->nt++;
    return 0;
}

static const struct ladapter *find_adapter(const struct listen *L, const char *name)
{
    for (size_t i = 0; i < L->nad; i++)
        if (strcmp(L->ad[i].name, name) == 0)
            return &L->ad[i];
    return NULL;
}

static void adapter_free(struct ladapter *a)
{
    free(a->name);
    free(a->entry);
    free(a->id);
    free(a->author);
    free(a->time);
    free(a->title);
    free(a->text);
    free(a->link);
    free(a->next);
    free(a->kind);
}

static int adapter_key(struct ladapter *a, const char *k, const char *v)
{
    static const char *const keys[] = {"entry", "id",   "author", "time", "title",
                                       "text",  "link", "next",   "kind", NULL};
    char **slots[] = {&a->entry, &a->id,   &a->author, &a->time, &a->title,
                      &a->text,  &a->link, &a->next,   &a->kind};
    for (size_t i = 0; keys[i]; i++) {
        if (strcmp(k, keys[i]) != 0)
            continue;
        if (*slots[i])
            return -EEXIST;
        *slots[i] = strdup(v);
        return *slots[i] ? 0 : -ENOMEM;
    }
    return -ENOENT;
}

/* Every XPath compiles, entry is there, kind is known. */
static const char *adapter_problem(const struct ladapter *a, const char **which)
{
    if (!a->entry)
        return "has no entry XPath";
    const char *xp[] = {a->entry, a->id, a->author, a->time, a->title, a->text, a->link, a->next};
    const char *names[] = {"entry", "id", "author", "time", "title", "text", "link", "next"};
    for (size_t i = 0; i < sizeof xp / sizeof xp[0]; i++)
        if (xp[i] && lparse_xpath_ok(xp[i]) < 0) {
            *which = names[i];
            return "has an XPath libxml2 cannot compile";
        }
    if (a->kind && strcmp(a->kind, "mention") != 0 && strcmp(a->kind, "post") != 0)
        return "has a kind other than mention or post";
    return NULL;
}

static int load_adapters(struct listen *L, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        L->host->log(L->src, KANAL_LOG_ERR, "adapters file %s: %s", path, strerror(errno));
        return KANAL_ECONFIG;
    }
    char line[4096];
    int lineno = 0, r = 0;
    struct ladapter *cur = NULL;
    while (r == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char name[128];
            if (sscanf(s, "[adapter %127[A-Za-z0-9_.-]]", name) != 1 || s[strlen(s) - 1] != ']') {
                L->host->log(L->src, KANAL_LOG_ERR,
                             "%s:%d: expected [adapter NAME] (letters, digits, _ . -)", path,
                             lineno);
                r = KANAL_ECONFIG;
                break;
            }
            if (find_adapter(L, name)) {
                L->host->log(L->src, KANAL_LOG_ERR, "%s:%d: adapter %s is defined twice", path,
                             lineno, name);
                r = KANAL_ECONFIG;
                break;
            }
            struct ladapter *v = realloc(L->ad, (L->nad + 1) * sizeof *v);
            if (!v) {
                r = -ENOMEM;
                break;
            }
            L->ad = v;
            cur = &L->ad[L->nad++];
            memset(cur, 0, sizeof *cur);
            if (!(cur->name = strdup(name)))
                r = -ENOMEM;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq || !cur) {
            L->host->log(L->src, KANAL_LOG_ERR, "%s:%d: expected key = value in an [adapter]", path,
                         lineno);
            r = KANAL_ECONFIG;
            break;
        }
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        int kr = adapter_key(cur, k, v);
        if (kr == -ENOENT || kr == -EEXIST) {
            L->host->log(L->src, KANAL_LOG_ERR, "%s:%d: %s key '%s' in [adapter %s]", path, lineno,
                         kr == -ENOENT ? "unknown" : "repeated", k, cur->name);
            r = KANAL_ECONFIG;
        } else {
            r = kr;
        }
    }
    fclose(f);
    for (size_t i = 0; r == 0 && i < L->nad; i++) {
        const char *which = "";
        const char *problem = adapter_problem(&L->ad[i], &which);
        if (problem) {
            L->host->log(L->src, KANAL_LOG_ERR, "%s: adapter %s %s%s%s", path, L->ad[i].name,
                         problem, which[0] ? ": " : "", which);
            r = KANAL_ECONFIG;
        }
    }
    return r;
}

/* Split text at any of seps, calling fn on each trimmed, non-empty piece. */
static int each(struct listen *L, const char *text, const char *seps,
                int (*fn)(struct listen *, char *))
{
    if (!text)
        return 0;
    char *copy = strdup(text);
    if (!copy)
        return -ENOMEM;
    int r = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, seps, &save); tok && r == 0;
         tok = strtok_r(NULL, seps, &save)) {
        char *t = trim(tok);
        if (*t)
            r = fn(L, t);
    }
    free(copy);
    return r;
}

static int one_adapters_file(struct listen *L, char *path)
{
    return load_adapters(L, path);
}

static int one_feed(struct listen *L, char *url)
{
    return add_target(L, url, NULL);
}

/* "URL = ADAPTER": the adapter is after the last '=' (URLs may hold '='). */
static int one_page(struct listen *L, char *entry)
{
    char *eq = strrchr(entry, '=');
    if (!eq) {
        L->host->log(L->src, KANAL_LOG_ERR, "pages: '%.200s' is not URL = ADAPTER", entry);
        return KANAL_ECONFIG;
    }
    *eq = '\0';
    char *url = trim(entry), *name = trim(eq + 1);
    const struct ladapter *a = find_adapter(L, name);
    if (!a) {
        L->host->log(L->src, KANAL_LOG_ERR,
                     "pages: no adapter '%.100s' for %.200s (define it in an adapters file)", name,
                     url);
        return KANAL_ECONFIG;
    }
    return add_target(L, url, a);
}

int listen_conf_load(struct listen *L)
{
    int r = each(L, L->adapters, " \t\r\n,", one_adapters_file);
    if (r == 0)
        r = each(L, L->feeds, " \t\r\n,", one_feed);
    if (r == 0)
        r = each(L, L->pages, ",\r\n", one_page);
    if (r == 0 && L->nt == 0) {
        L->host->log(L->src, KANAL_LOG_ERR, "nothing to read: set feeds or pages");
        r = KANAL_ECONFIG;
    }
    if (r == 0 && lmatch_init(&L->match, L->keywords, L->exclude) < 0)
        r = -ENOMEM;
    return r;
}

void listen_conf_free(struct listen *L)
{
    for (size_t i = 0; i < L->nt; i++) {
        free(L->t[i].url);
        free(L->t[i].etag);
        free(L->t[i].lastmod);
    }
    free(L->t);
    for (size_t i = 0; i < L->nad; i++)
        adapter_free(&L->ad[i]);
    free(L->ad);
    for (size_t i = 0; i < L->nhosts; i++) {
        free(L->hosts[i].origin);
        free(L->hosts[i].robots);
    }
    free(L->hosts);
    lmatch_free(&L->match);
}

const char *listen_url_path(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    return p ? p : "/";
}

struct lhost *listen_host_of(struct listen *L, const char *url)
{
    const char *p = strstr(url, "://");
    if (!p || !http_url(url))
        return NULL;
    const char *end = p + 3 + strcspn(p + 3, "/?#");
    size_t n = (size_t)(end - url);
    for (size_t i = 0; i < L->nhosts; i++)
        if (strlen(L->hosts[i].origin) == n && strncasecmp(L->hosts[i].origin, url, n) == 0)
            return &L->hosts[i];
    struct lhost *v = realloc(L->hosts, (L->nhosts + 1) * sizeof *v);
    if (!v)
        return NULL;
    L->hosts = v;
    struct lhost *h = &L->hosts[L->nhosts];
    memset(h, 0, sizeof *h);
    if (!(h->origin = strndup(url, n)))
        return NULL;
    for (char *c = h->origin; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    L->nhosts++;
    return h;
}
