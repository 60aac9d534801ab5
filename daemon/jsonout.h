/* Serializing records: the writer's hot path. */
#ifndef KANAL_JSONOUT_H
#define KANAL_JSONOUT_H

#include <stddef.h>

#include <jansson.h>

/* Compact JSON text of v, the same bytes json_dumps(v, JSON_COMPACT) writes
 * (UTF-8 kept as is, only what JSON requires escaped); malloc'ed, *len set.
 * NULL on out-of-memory or an unsupported value. */
char *jsonout_dump(const json_t *v, size_t *len);

#endif
