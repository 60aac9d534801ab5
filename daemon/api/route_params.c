/* SPDX-License-Identifier: Apache-2.0 */
/* A matched route's path parameters (route_params.h). */
#include "route_params.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"

const char *route_param(const struct route_params *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->name[i], name) == 0)
            return p->value[i];
    return "";
}

int query_limit(const char *qs, unsigned *out, const char **why)
{
    char *v = form_get(qs, strlen(qs), "limit");
    *out = QUERY_LIMIT_DEFAULT;
    if (!v)
        return 0;
    /* Digits only: strtoul alone would take " 5", "+5", "-5" (as a huge
     * number) and "5abc". */
    size_t n = strspn(v, "0123456789");
    int ok = n > 0 && n <= 9 && v[n] == '\0';
    unsigned long l = ok ? strtoul(v, NULL, 10) : 0;
    free(v);
    if (!ok || l < 1 || l > QUERY_LIMIT_MAX) {
        *why = QUERY_LIMIT_WHY;
        return -EINVAL;
    }
    *out = (unsigned)l;
    return 0;
}

int query_after_seq(const char *qs, uint64_t *out, const char **why)
{
    char *v = form_get(qs, strlen(qs), "after");
    *out = 0;
    if (!v)
        return 0;
    size_t n = strspn(v, "0123456789");
    int ok = n > 0 && n <= 20 && v[n] == '\0';
    errno = 0;
    unsigned long long l = ok ? strtoull(v, NULL, 10) : 0;
    free(v);
    if (!ok || errno) {
        *why = QUERY_AFTER_SEQ_WHY;
        return -EINVAL;
    }
    *out = (uint64_t)l;
    return 0;
}

int query_after_key(const char *qs, size_t max, char **out, const char **why)
{
    char *v = form_get(qs, strlen(qs), "after");
    *out = NULL;
    if (!v)
        return 0;
    if (!*v || strlen(v) > max) {
        free(v);
        *why = "after must be the id of the last entry of the page before";
        return -EINVAL;
    }
    *out = v;
    return 0;
}
