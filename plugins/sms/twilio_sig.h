/* SPDX-License-Identifier: Apache-2.0 */
/* Twilio request signatures (X-Twilio-Signature).
 *
 * Twilio signs base64(HMAC-SHA1(auth token, URL + every POST parameter as
 * name then value, sorted by name, then by value)).  The URL is the one
 * Twilio called, so the check needs the source's public_url and the
 * request's query.  The HMAC, base64 and the constant-time compare come from
 * the caller (the host's, in the plugin; the daemon's, in the unit tests), so
 * that this file needs nothing but libc. */
#ifndef KANAL_SMS_TWILIO_SIG_H
#define KANAL_SMS_TWILIO_SIG_H

#include <stddef.h>

/* base64 of a 20-byte SHA-1 MAC, without the NUL. */
#define TWILIO_SIG_LEN 28

struct twilio_param {
    const char *name;
    const char *value;
};

struct twilio_crypto {
    int (*hmac_sha1)(const void *key, size_t key_len, const void *data, size_t len,
                     unsigned char out[20]);
    int (*base64_encode)(const void *in, size_t len, char *out);
    int (*equal_ct)(const void *a, const void *b, size_t len);
};

/* The text Twilio signs: url, then each parameter's name and value, sorted by
 * name, then by value (byte order).  Malloc'ed; NULL when out of memory. */
char *twilio_signed_text(const char *url, const struct twilio_param *params, size_t n);

/* The signature of url and params with token into out (NUL-terminated).
 * Returns 0 or -ENOMEM. */
int twilio_sign(const struct twilio_crypto *c, const char *token, const char *url,
                const struct twilio_param *params, size_t n, char out[TWILIO_SIG_LEN + 1]);

/* The URL Twilio called: public_url's scheme, host and path (any query or
 * fragment dropped) followed by "?query" when query is not empty.
 * Malloc'ed; NULL when out of memory. */
char *twilio_request_url(const char *public_url, const char *query);

/* The same URL with its explicit default port (:443 for https, :80 for http)
 * removed, or added when it has none: Twilio's SDKs accept both forms.
 * Malloc'ed; NULL when the URL has another port, is not http(s), or memory
 * ran out. */
char *twilio_url_port_variant(const char *url);

/* 1 when sig is the signature of url (or its port variant) and params under
 * token, 0 when not (or when sig is missing). */
int twilio_signature_ok(const struct twilio_crypto *c, const char *token, const char *url,
                        const struct twilio_param *params, size_t n, const char *sig);

#endif
