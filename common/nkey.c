/* SPDX-License-Identifier: Apache-2.0 */
/* A NATS user NKey's signature of a nonce (nkey.h): the seed is base32
 * (RFC 4648, no padding) of two prefix bytes (seed, then user), the 32-byte
 * Ed25519 seed and a CRC-16/XMODEM in little-endian order. */
#include "nkey.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define NKEY_PREFIX_SEED (18 << 3) /* 'S' */
#define NKEY_PREFIX_USER (20 << 3) /* 'U' */
#define NKEY_RAW 36                /* 2 prefix bytes, 32 seed bytes, 2 CRC bytes */

static uint16_t crc16_xmodem(const unsigned char *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

/* The seed's bytes, or -EINVAL. */
static int decode(const char *text, unsigned char raw[NKEY_RAW])
{
    size_t n = strlen(text), out = 0;
    uint32_t acc = 0;
    int bits = 0;
    if (n != (NKEY_RAW * 8 + 4) / 5)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = text[i];
        int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= '2' && c <= '7' ? c - '2' + 26 : -1;
        if (v < 0)
            return -EINVAL;
        acc = (acc << 5) | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (out == NKEY_RAW)
                return -EINVAL;
            raw[out++] = (unsigned char)(acc >> bits);
        }
    }
    /* The bits left over are padding: zero in a canonical encoding. */
    if (out != NKEY_RAW || (acc & ((1u << bits) - 1)))
        return -EINVAL;
    uint16_t crc = (uint16_t)(raw[NKEY_RAW - 2] | raw[NKEY_RAW - 1] << 8);
    if (crc16_xmodem(raw, NKEY_RAW - 2) != crc)
        return -EINVAL;
    if ((raw[0] & 0xf8) != NKEY_PREFIX_SEED ||
        (((raw[0] & 7) << 5) | ((raw[1] & 0xf8) >> 3)) != NKEY_PREFIX_USER)
        return -EINVAL;
    return 0;
}

int kanal_nkey_sign(const char *seed, const unsigned char *msg, size_t len, unsigned char **sig,
                    int *sig_len)
{
    unsigned char raw[NKEY_RAW];
    *sig = NULL;
    *sig_len = 0;
    int rc = seed ? decode(seed, raw) : -EINVAL;
    if (rc < 0)
        return rc;
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw + 2, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *out = malloc(64);
    size_t n = 64;
    rc = -ENOMEM;
    if (key && ctx && out) {
        rc = -EIO;
        if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
            EVP_DigestSign(ctx, out, &n, msg, len) == 1 && n == 64) {
            *sig = out;
            *sig_len = (int)n;
            out = NULL;
            rc = 0;
        }
    }
    free(out);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    memset(raw, 0, sizeof raw);
    return rc;
}
