/* SPDX-License-Identifier: Apache-2.0 */
/* The API tokens file (daemon/api/auth.c): auth_load on any text either refuses
 * with every problem as "file:line: why" or loads tokens, and a bearer header is looked up
 * against them.  Input: the file's text, a NUL byte, then the value of the
 * Authorization header.  The harness's own check: a token line it can read
 * ("name scope secret", secret long enough) is found with its scope. */
#include "fuzz.h"

#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "http.h"

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    snprintf(path, sizeof path, "/tmp/kanal-fuzz-auth-%d", (int)getpid());
    return 0;
}

static enum scope lookup(const struct api_tokens *t, const char *value, const char **name)
{
    struct kanal_http_header h = {"Authorization", value};
    struct http_req req;
    memset(&req, 0, sizeof req);
    req.headers = &h;
    req.nheaders = 1;
    return auth_scope(t, &req, name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    char *text = fuzz_str(&in);
    char *header = fuzz_strndup(in.p, in.n);
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);

    struct api_tokens *t = NULL;
    struct config_errors errs = {0};
    int r = auth_load(path, &t, &errs);
    if (r < 0) {
        if (t || !errs.n)
            FUZZ_FAIL("auth_load refused without a reason");
        for (size_t i = 0; i < errs.n; i++)
            if (strncmp(errs.lines[i], path, strlen(path)) != 0 || errs.lines[i][strlen(path)] != ':')
                FUZZ_FAIL("auth_load refused without naming the file: '%s'", errs.lines[i]);
    } else {
        if (errs.n)
            FUZZ_FAIL("auth_load loaded with %zu errors", errs.n);
        const char *name = NULL;
        enum scope s = lookup(t, header, &name);
        if (s != SCOPE_NONE && !name)
            FUZZ_FAIL("a token matched without a name");
        /* The first line of the form "NAME SCOPE SECRET" must be found. */
        char n1[128], s1[16], sec[512], extra[2];
        char *nl = strchr(text, '\n');
        if (nl)
            *nl = '\0';
        if (sscanf(text, "%127s %15s %511s %1s", n1, s1, sec, extra) == 3 && n1[0] != '#' &&
            strlen(sec) >= 16 && !strchr(text, '\r')) {
            char bearer[600];
            snprintf(bearer, sizeof bearer, "Bearer %s", sec);
            if (lookup(t, bearer, NULL) == SCOPE_NONE)
                FUZZ_FAIL("the token of line 1 (%s) is not found", n1);
        }
        auth_free(t);
    }
    config_errors_free(&errs);
    free(text);
    free(header);
    return 0;
}
