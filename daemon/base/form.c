/* SPDX-License-Identifier: Apache-2.0 */
#include "form.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t form_unescape(const char *in, size_t len, char *out, int plus_space)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '%' && i + 2 < len && hexval(in[i + 1]) >= 0 && hexval(in[i + 2]) >= 0) {
            out[n++] = (char)(hexval(in[i + 1]) * 16 + hexval(in[i + 2]));
            i += 2;
        } else if (in[i] == '+' && plus_space) {
            out[n++] = ' ';
        } else {
            out[n++] = in[i];
        }
    }
    out[n] = '\0';
    return n;
}

int form_decode(const char *in, size_t len, kanal_form_cb cb, void *arg)
{
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && in[end] != '&')
            end++;
        if (end > i) {
            size_t eq = i;
            while (eq < end && in[eq] != '=')
                eq++;
            char *name = xmalloc(eq - i + 1);
            size_t vlen = eq < end ? end - eq - 1 : 0;
            char *value = xmalloc(vlen + 1);
            form_unescape(in + i, eq - i, name, 1);
            form_unescape(eq < end ? in + eq + 1 : "", vlen, value, 1);
            int r = cb(arg, name, value);
            free(name);
            free(value);
            if (r != 0)
                return r;
        }
        i = end + 1;
    }
    return 0;
}

struct form_find {
    const char *name;
    char *value;
};

static int find_cb(void *arg, const char *name, const char *value)
{
    struct form_find *f = arg;
    if (strcmp(name, f->name) == 0) {
        f->value = xstrdup(value);
        return 1;
    }
    return 0;
}

char *form_get(const char *in, size_t len, const char *name)
{
    struct form_find f = {.name = name, .value = NULL};
    form_decode(in, len, find_cb, &f);
    return f.value;
}
