/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KANAL_JSONIN_H
#define KANAL_JSONIN_H

#include <stddef.h>

#include <jansson.h>

/* Parse text as json_loadb(text, len, 0, ...) would; on error NULL, with
 * "line N: what" in err. */
json_t *jsonin_parse(const char *text, size_t len, char *err, size_t err_len);

/* What jsonin_scan says of each value of a text. */
enum {
    JSONIN_OBJECT,
    JSONIN_ARRAY,
    JSONIN_STRING,
    JSONIN_NUMBER,
    JSONIN_TRUE,
    JSONIN_FALSE,
    JSONIN_NULL
};

struct jsonin_item {
    int depth;       /* 0: the top value, 1: its members or elements, ... */
    const char *key; /* an object member's key (klen bytes), NULL for an element or the top */
    size_t klen;
    int type;        /* JSONIN_* */
    const char *str; /* JSONIN_STRING: the value, decoded (len bytes) */
    size_t len;
};

/* Read text as jsonin_parse does, accepting and refusing the same texts,
 * without building a value: item() is called with each value in the
 * text's order, a container before what it holds (what it is given lasts
 * for the call only; on a text refused, some values may have been given).
 * 0, or -1 with "line N: what" in err. */
int jsonin_scan(const char *text, size_t len, void (*item)(void *arg, const struct jsonin_item *it),
                void *arg, char *err, size_t err_len);

#endif
