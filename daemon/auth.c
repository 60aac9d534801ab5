/* Tokens are compared as SHA-256 digests in constant time, against every
 * token in the file, so neither the length nor the position of a match
 * leaks through timing. */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "http.h"
#include "util.h"

struct api_token {
    char *name;
    enum scope scope;
    unsigned char digest[32];
};

struct api_tokens {
    struct api_token *t;
    size_t n;
};

static const char *const scope_names[] = {"none", "read", "write", "admin"};

int auth_load(const char *path, struct api_tokens **out, char *why, size_t why_len)
{
    char *text;
    int r = util_read_file(path, &text, NULL);
    if (r < 0) {
        snprintf(why, why_len, "%s: cannot read API tokens: %s", path, strerror(-r));
        return r;
    }
    struct api_tokens *t = xcalloc(1, sizeof *t);
    int line = 0;
    char *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        line++;
        while (*l == ' ' || *l == '\t')
            l++;
        if (!*l || *l == '#' || *l == '\r')
            continue;
        char name[128], scope[16], secret[512], extra[2];
        int n = sscanf(l, "%127s %15s %511s %1s", name, scope, secret, extra);
        if (n != 3) {
            snprintf(why, why_len, "%s:%d: expected 'name scope secret'", path, line);
            goto fail;
        }
        enum scope s = SCOPE_NONE;
        for (int i = SCOPE_READ; i <= SCOPE_ADMIN; i++)
            if (strcmp(scope, scope_names[i]) == 0)
                s = (enum scope)i;
        if (s == SCOPE_NONE) {
            snprintf(why, why_len, "%s:%d: scope '%s' is not read, write or admin", path, line,
                     scope);
            goto fail;
        }
        if (strlen(secret) < 16) {
            snprintf(why, why_len, "%s:%d: the secret of token '%s' is shorter than 16 characters",
                     path, line, name);
            goto fail;
        }
        t->t = xrealloc(t->t, (t->n + 1) * sizeof *t->t);
        struct api_token *tok = &t->t[t->n++];
        tok->name = xstrdup(name);
        tok->scope = s;
        crypto_sha256(secret, strlen(secret), tok->digest);
        memset(secret, 0, sizeof secret);
    }
    free(text);
    *out = t;
    return 0;
fail:
    free(text);
    auth_free(t);
    return -EINVAL;
}

void auth_free(struct api_tokens *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->t[i].name);
    free(t->t);
    free(t);
}

enum scope auth_scope(const struct api_tokens *t, const struct http_req *req, const char **name)
{
    const char *h = http_req_header(req, "Authorization");
    if (!t || !h || strncasecmp(h, "Bearer ", 7) != 0)
        return SCOPE_NONE;
    h += 7;
    while (*h == ' ')
        h++;
    unsigned char digest[32];
    crypto_sha256(h, strlen(h), digest);
    enum scope found = SCOPE_NONE;
    for (size_t i = 0; i < t->n; i++)
        if (crypto_equal_ct(digest, t->t[i].digest, sizeof digest)) {
            found = t->t[i].scope;
            if (name)
                *name = t->t[i].name;
        }
    return found;
}

int auth_require(const struct api_tokens *t, struct http_req *req, enum scope need)
{
    enum scope have = auth_scope(t, req, NULL);
    if (have == SCOPE_NONE) {
        http_req_add_header(req, "WWW-Authenticate", "Bearer realm=\"kanal\"");
        http_respond_error(req, 401, "unauthorized",
                           t ? "missing or unknown bearer token"
                             : "no API tokens are configured ([api] tokens)");
        return 0;
    }
    if (have < need) {
        char msg[96];
        snprintf(msg, sizeof msg, "this needs a token with %s scope", scope_names[need]);
        http_respond_error(req, 403, "forbidden", msg);
        return 0;
    }
    return 1;
}
