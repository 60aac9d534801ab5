/* SPDX-License-Identifier: Apache-2.0 */
/* application/x-www-form-urlencoded and query strings. */
#ifndef KANAL_FORM_H
#define KANAL_FORM_H

#include <stddef.h>

#include <kanal/plugin.h>

/* Decode percent-escapes (and '+' as space when plus_space); out holds len+1. */
size_t form_unescape(const char *in, size_t len, char *out, int plus_space);
/* Call cb for each name=value pair, both decoded; stops on a non-zero return. */
int form_decode(const char *in, size_t len, kanal_form_cb cb, void *arg);
/* First value of name in a query or form string, decoded, malloc'ed; NULL if absent. */
char *form_get(const char *in, size_t len, const char *name);

#endif
