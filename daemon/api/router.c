/* SPDX-License-Identifier: Apache-2.0 */
/* Which route answers which request: the first pattern of the route table
 * (routes.c) that matches the path, then the row of that pattern that takes
 * the method.  The answers every route shares come from here, in this
 * order:
 *   - /v1/...: 401 without a valid token, before anything else, so that a
 *     client without one learns nothing about which paths exist;
 *   - 404 not_found for a path no pattern matches;
 *   - 405 method_not_allowed, with Allow listing the path's methods;
 *   - 403 forbidden for a token of too low a scope;
 *   - 400 unknown_parameter / repeated_parameter for a query parameter the
 *     route does not read, or one given twice. */
#include "router.h"

#include <string.h>

#include <jansson.h>

#include "auth.h"
#include "form.h"
#include "http.h"
#include "routes.h"
#include "util.h"

/* Append n bytes of s to p->buf, NUL-terminated; NULL when full. */
static const char *param_copy(struct route_params *p, size_t *used, const char *s, size_t n)
{
    if (*used + n + 1 > sizeof p->buf)
        return NULL;
    char *out = p->buf + *used;
    memcpy(out, s, n);
    out[n] = '\0';
    *used += n + 1;
    return out;
}

/* 1 when path matches pattern, with its parameters in p.  One trailing
 * slash is forgiven (/v1/contacts/ is /v1/contacts). */
static int match(const char *pat, const char *path, struct route_params *p)
{
    size_t used = 0;
    p->n = 0;
    for (;;) {
        if (strcmp(pat, "/...") == 0)
            return *path == '\0' || *path == '/';
        if (*pat == '\0')
            return *path == '\0' || strcmp(path, "/") == 0;
        if (*pat == '{') {
            const char *close = strchr(pat, '}');
            size_t seg = strcspn(path, "/");
            if (!close || seg == 0 || p->n == ROUTE_MAX_PARAMS)
                return 0;
            const char *name = param_copy(p, &used, pat + 1, (size_t)(close - pat - 1));
            const char *value = name ? param_copy(p, &used, path, seg) : NULL;
            if (!value)
                return 0; /* longer than any id kanal hands out */
            p->name[p->n] = name;
            p->value[p->n++] = value;
            pat = close + 1;
            path += seg;
            continue;
        }
        if (*pat != *path)
            return 0;
        pat++;
        path++;
    }
}

/* 1 when the space-separated list holds word (of n bytes); "*" holds any. */
static int list_has(const char *list, const char *word, size_t n, int *index)
{
    if (strcmp(list, "*") == 0)
        return 1;
    for (int i = 0; *list; i++) {
        size_t len = strcspn(list, " ");
        if (len == n && memcmp(list, word, n) == 0) {
            if (index)
                *index = i;
            return 1;
        }
        list += len;
        list += strspn(list, " ");
    }
    return 0;
}

struct query_check {
    const char *accepted;
    unsigned seen; /* bit i: the i-th accepted parameter was given */
    const char *code, *what;
    char name[68];
};

static int query_cb(void *arg, const char *name, const char *value)
{
    (void)value;
    struct query_check *q = arg;
    int i = 0;
    if (!list_has(q->accepted, name, strlen(name), &i)) {
        q->code = "unknown_parameter";
        q->what = "unknown query parameter";
    } else if (i < 32 && (q->seen & (1u << i))) {
        q->code = "repeated_parameter";
        q->what = "repeated query parameter";
    } else {
        q->seen |= i < 32 ? 1u << i : 0;
        return 0;
    }
    /* The name goes back to the client: printable ASCII only, cut short. */
    size_t n = 0;
    for (; name[n] && n < 64; n++) {
        unsigned char c = (unsigned char)name[n];
        q->name[n] = c >= 0x20 && c < 0x7f && c != '\'' ? (char)c : '?';
    }
    if (name[n])
        memcpy(q->name + 61, "...", 4);
    else
        q->name[n] = '\0';
    return 1;
}

/* 1 when the query holds only parameters the route reads, each once;
 * otherwise answers 400 naming the first one that is not. */
static int query_ok(const struct route *r, struct http_req *req)
{
    if (strcmp(r->query, "*") == 0)
        return 1;
    struct query_check q = {.accepted = r->query};
    if (form_decode(req->pub.query, strlen(req->pub.query), query_cb, &q) == 0)
        return 1;
    char msg[256];
    snprintf(msg, sizeof msg, "%s '%s' (%s takes %s)", q.what, q.name, r->pattern,
             *r->query ? r->query : "none");
    http_respond_error(req, 400, q.code, msg);
    return 0;
}

/* 405 with Allow: the methods of every row of the path's pattern. */
static void method_not_allowed(struct http_req *req, const char *pattern)
{
    char allow[96] = "";
    size_t n = 0;
    for (size_t i = 0; i < route_count; i++) {
        if (strcmp(route_table[i].pattern, pattern))
            continue;
        for (const char *m = route_table[i].methods; *m;) {
            size_t len = strcspn(m, " ");
            if (!list_has(allow, m, len, NULL) && n + len + 2 < sizeof allow)
                n += (size_t)snprintf(allow + n, sizeof allow - n, "%s%.*s", n ? " " : "", (int)len,
                                      m);
            m += len;
            m += strspn(m, " ");
        }
    }
    char header[128], msg[192];
    /* Allow separates with commas. */
    size_t h = 0;
    for (const char *a = allow; *a && h + 2 < sizeof header; a++) {
        if (*a == ' ')
            header[h++] = ',';
        header[h++] = *a;
    }
    header[h] = '\0';
    http_req_add_header(req, "Allow", header);
    snprintf(msg, sizeof msg, "%s takes %s", pattern, header);
    http_respond_error(req, 405, "method_not_allowed", msg);
}

void router_handle(void *arg, struct http_req *req)
{
    struct router *rt = arg;
    const char *path = req->pub.path, *method = req->pub.method;
    int api = strncmp(path, "/v1/", 4) == 0;
    struct route_params p;
    size_t i = 0;
    while (i < route_count && !match(route_table[i].pattern, path, &p))
        i++;
    req->route = i < route_count ? route_table[i].label : "other";
    enum scope have = api ? auth_scope(rt->tokens, req, NULL) : SCOPE_NONE;
    if (api && have == SCOPE_NONE) {
        auth_require(rt->tokens, req, SCOPE_READ); /* answers 401 */
        return;
    }
    if (i == route_count) {
        http_respond_error(req, 404, "not_found", "no such route");
        return;
    }
    const struct route *r = NULL;
    const char *pattern = route_table[i].pattern;
    for (size_t j = i; j < route_count && !r; j++)
        if (!strcmp(route_table[j].pattern, pattern) &&
            list_has(route_table[j].methods, method, strlen(method), NULL))
            r = &route_table[j];
    if (!r) {
        method_not_allowed(req, pattern);
        return;
    }
    if (have < r->scope) {
        auth_require(rt->tokens, req, r->scope); /* answers 401 or 403 */
        return;
    }
    if (!query_ok(r, req))
        return;
    r->fn(rt->module[r->module], req, &p);
}

static const char *const scope_name[] = {"none", "read", "write", "admin"};

static json_t *words(const char *list)
{
    json_t *a = json_array();
    while (*list) {
        size_t len = strcspn(list, " ");
        json_array_append_new(a, json_stringn(list, len));
        list += len;
        list += strspn(list, " ");
    }
    return a;
}

/* The first row whose pattern is not the one that answers a path of it:
 * a row placed after a pattern that also matches its paths would never be
 * reached.  NULL when every row is reachable. */
static const struct route *route_shadowed(void)
{
    for (size_t i = 0; i < route_count; i++) {
        char path[256];
        size_t n = 0;
        for (const char *s = route_table[i].pattern; *s && n + 2 < sizeof path; s++) {
            if (strcmp(s, "/...") == 0)
                break;
            if (*s == '{') {
                path[n++] = '\x01'; /* a parameter: no literal segment is this */
                s = strchr(s, '}');
                if (!s)
                    return &route_table[i];
                continue;
            }
            path[n++] = *s;
        }
        path[n] = '\0';
        struct route_params p;
        size_t j = 0;
        while (j < route_count && !match(route_table[j].pattern, path, &p))
            j++;
        if (j == route_count || strcmp(route_table[j].pattern, route_table[i].pattern))
            return &route_table[i];
    }
    return NULL;
}

int routes_print(FILE *f)
{
    const struct route *bad = route_shadowed();
    if (bad) {
        fprintf(stderr,
                "kanald: route %s %s is never reached: an earlier pattern takes its paths\n",
                bad->methods, bad->pattern);
        return -1;
    }
    json_t *all = json_array();
    for (size_t i = 0; i < route_count; i++) {
        const struct route *r = &route_table[i];
        json_array_append_new(
            all, json_pack("{s:s,s:o,s:s,s:s,s:o}", "path", r->pattern, "methods",
                           words(r->methods), "scope", scope_name[r->scope], "label", r->label,
                           "query", strcmp(r->query, "*") ? words(r->query) : json_string("*")));
    }
    int r = json_dumpf(all, f, JSON_INDENT(1)) == 0 && fputc('\n', f) != EOF ? 0 : -1;
    json_decref(all);
    return r;
}
