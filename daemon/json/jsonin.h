/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KANAL_JSONIN_H
#define KANAL_JSONIN_H

#include <stddef.h>

#include <jansson.h>

/* Parse text as json_loadb(text, len, 0, ...) would; on error NULL, with
 * "line N: what" in err. */
json_t *jsonin_parse(const char *text, size_t len, char *err, size_t err_len);

#endif
