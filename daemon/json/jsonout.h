/* SPDX-License-Identifier: Apache-2.0 */
/* Serializing records: the writer's hot path. */
#ifndef KANAL_JSONOUT_H
#define KANAL_JSONOUT_H

#include <stddef.h>

#include <jansson.h>

/* Compact JSON text of v, the same bytes json_dumps(v, JSON_COMPACT) writes
 * (UTF-8 kept as is, only what JSON requires escaped); malloc'ed, *len set.
 * NULL with errno ENOMEM on out-of-memory, EINVAL for a value nested deeper
 * than KANAL_MAX_DEPTH (the value itself is level 1, as jsonin counts) or
 * a string with a NUL in it, which no JSON reader of kanal's takes back. */
char *jsonout_dump(const json_t *v, size_t *len);

#endif
