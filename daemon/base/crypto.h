/* SPDX-License-Identifier: Apache-2.0 */
/* HMAC, constant-time compare and the text encodings plugins need. */
#ifndef KANAL_CRYPTO_H
#define KANAL_CRYPTO_H

#include <stddef.h>

int crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                       unsigned char out[32]);
int crypto_hmac_sha1(const void *key, size_t key_len, const void *data, size_t len,
                     unsigned char out[20]);
int crypto_sha256(const void *data, size_t len, unsigned char out[32]);
/* 1 when equal; time depends only on len. */
int crypto_equal_ct(const void *a, const void *b, size_t len);
int crypto_hex_encode(const void *in, size_t len, char *out);
int crypto_base64_encode(const void *in, size_t len, char *out);
int crypto_base64_decode(const char *in, size_t len, void *out, size_t *out_len);
/* n random bytes from the kernel; 0 or negative errno. */
int crypto_random(void *out, size_t n);

#endif
