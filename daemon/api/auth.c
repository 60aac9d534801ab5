/* SPDX-License-Identifier: Apache-2.0 */
/* Tokens are compared as SHA-256 digests in constant time, against every
 * token in the file, so neither the length nor the position of a match
 * leaks through timing. */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
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

int auth_load(const char *path, struct api_tokens **out, struct config_errors *errs)
{
    *out = NULL;
    char *text;
    size_t len;
    int r = util_read_file(path, &text, &len);
    if (r < 0) {
        config_error_add(errs, path, 0, "cannot read API tokens: %s", strerror(-r));
        return r;
    }
    size_t nerr = errs->n; /* errs may already hold the config's */
    /* Readable by others, or not by the service user (--check-config --user). */
    config_check_secret_file(errs, path, 0, "API tokens", path, 0);
    struct api_tokens *t = xcalloc(1, sizeof *t);
    int line = 0;
    /* Line by line, blank ones counted, so errors give the right number;
     * every bad line is reported, not just the first. */
    for (char *l = text, *next; l; l = next) {
        next = strchr(l, '\n');
        if (next)
            *next++ = '\0';
        line++;
        while (*l == ' ' || *l == '\t')
            l++;
        if (!*l || *l == '#' || *l == '\r')
            continue;
        /* Fields may be out of order or missing, so any of them may hold
         * secret material: errors name the file, line and field, never
         * their text. */
        char name[128], scope[16], secret[512], extra[2];
        int n = sscanf(l, "%127s %15s %511s %1s", name, scope, secret, extra);
        const char *problem = NULL;
        enum scope s = SCOPE_NONE;
        if (n != 3) {
            problem = "expected three fields 'name scope secret' (names and scopes of up to "
                      "127 and 15 characters, secrets of up to 511)";
        } else {
            for (int i = SCOPE_READ; i <= SCOPE_ADMIN; i++)
                if (strcmp(scope, scope_names[i]) == 0)
                    s = (enum scope)i;
            if (s == SCOPE_NONE)
                problem = "the second field (scope) is not read, write or admin";
            else if (strlen(secret) < 16)
                problem = "the third field (secret) is shorter than 16 characters";
        }
        if (problem) {
            config_error_add(errs, path, line, "%s", problem);
            explicit_bzero(name, sizeof name);
            explicit_bzero(scope, sizeof scope);
            explicit_bzero(secret, sizeof secret);
            continue;
        }
        t->t = xrealloc(t->t, (t->n + 1) * sizeof *t->t);
        struct api_token *tok = &t->t[t->n++];
        tok->name = xstrdup(name);
        tok->scope = s;
        crypto_sha256(secret, strlen(secret), tok->digest);
        explicit_bzero(secret, sizeof secret);
    }
    explicit_bzero(text, len); /* the file is full of secrets */
    free(text);
    if (errs->n > nerr) {
        auth_free(t);
        return -EINVAL;
    }
    *out = t;
    return 0;
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
