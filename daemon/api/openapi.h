/* SPDX-License-Identifier: Apache-2.0 */
/* The OpenAPI document that GET /v1/openapi.json serves: docs/openapi.yaml
 * as JSON, compiled in from $(BUILD)/gen/openapi_json.c, which
 * tools/openapi_json.py generates at build time (the YAML stays the one
 * source). */
#ifndef KANAL_OPENAPI_H
#define KANAL_OPENAPI_H

#include <stddef.h>

extern const char openapi_json[];
extern const size_t openapi_json_len;

#endif
