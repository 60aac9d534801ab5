/* SPDX-License-Identifier: Apache-2.0 */
/* Normalized identifiers "scheme:value" for the people behind records. */
#ifndef KANAL_HANDLE_H
#define KANAL_HANDLE_H

#include <stddef.h>

/* Normalize a handle; default_country (ISO 3166 alpha-2, or NULL) applies to
 * national phone numbers.  0, -ENOBUFS or KANAL_EHANDLE with *why set. */
int handle_normalize(const char *in, const char *default_country, char *out, size_t out_len,
                     const char **why);
/* Digits of an E.164 number for a national or international phone number. */
int handle_phone_e164(const char *in, const char *default_country, char *out, size_t out_len,
                      const char **why);
/* 1 when the ISO code is one kanal knows the calling code of. */
int handle_country_known(const char *iso);

#endif
