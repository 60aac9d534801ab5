/* SPDX-License-Identifier: Apache-2.0 */
#include "crypto.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* HMAC (RFC 2104) over EVP digests fetched once: OpenSSL 3's one-shot
 * HMAC() looks the algorithm up again on every call, which costs more than
 * hashing a typical webhook body. */
static EVP_MD *crypto_md[2];

static void fetch_digests(void)
{
    crypto_md[0] = EVP_MD_fetch(NULL, "SHA256", NULL);
    crypto_md[1] = EVP_MD_fetch(NULL, "SHA1", NULL);
}

static const EVP_MD *digest(int sha1)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fetch_digests);
    return crypto_md[sha1];
}

static int hmac(int sha1, const void *key, size_t key_len, const void *data, size_t len,
                unsigned char *out, unsigned expect)
{
    const EVP_MD *md = digest(sha1);
    unsigned block = (unsigned)EVP_MD_get_block_size(md);
    unsigned char k[128], pad[128], inner[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (!md || block > sizeof k)
        return -EIO;
    memset(k, 0, sizeof k);
    if (key_len > block) {
        if (!EVP_Digest(key, key_len, k, &n, md, NULL))
            return -EIO;
    } else {
        memcpy(k, key, key_len);
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL;
    for (unsigned i = 0; i < block; i++)
        pad[i] = k[i] ^ 0x36;
    ok = ok && EVP_DigestInit_ex(ctx, md, NULL) && EVP_DigestUpdate(ctx, pad, block) &&
         EVP_DigestUpdate(ctx, data, len) && EVP_DigestFinal_ex(ctx, inner, &n);
    for (unsigned i = 0; i < block; i++)
        pad[i] = k[i] ^ 0x5c;
    ok = ok && EVP_DigestInit_ex(ctx, md, NULL) && EVP_DigestUpdate(ctx, pad, block) &&
         EVP_DigestUpdate(ctx, inner, n) && EVP_DigestFinal_ex(ctx, out, &n) && n == expect;
    EVP_MD_CTX_free(ctx);
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
    return ok ? 0 : -EIO;
}

int crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                       unsigned char out[32])
{
    return hmac(0, key, key_len, data, len, out, 32);
}

int crypto_hmac_sha1(const void *key, size_t key_len, const void *data, size_t len,
                     unsigned char out[20])
{
    return hmac(1, key, key_len, data, len, out, 20);
}

int crypto_sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned n = 0;
    return EVP_Digest(data, len, out, &n, digest(0), NULL) && n == 32 ? 0 : -EIO;
}

int crypto_equal_ct(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

int crypto_hex_encode(const void *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = in;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * len] = '\0';
    return 0;
}

int crypto_base64_encode(const void *in, size_t len, char *out)
{
    if (len > 0x7fffffff / 2)
        return -EINVAL;
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return 0;
}

int crypto_base64_decode(const char *in, size_t len, void *out, size_t *out_len)
{
    while (len > 0 && (in[len - 1] == '\n' || in[len - 1] == '\r' || in[len - 1] == ' '))
        len--;
    if (len % 4 != 0 || len > 0x7fffffff)
        return -EINVAL;
    size_t need = len / 4 * 3;
    size_t pad = len >= 1 && in[len - 1] == '=' ? 1 + (len >= 2 && in[len - 2] == '=') : 0;
    /* '=' only as the padding at the very end (EVP_DecodeBlock takes it anywhere). */
    const char *eq = memchr(in, '=', len);
    if (eq && (size_t)(eq - in) < len - pad)
        return -EINVAL;
    if (*out_len < need - pad)
        return -ENOBUFS;
    /* EVP_DecodeBlock also writes the bytes that padding stands for: decode
     * through a scratch buffer when out holds only the real data. */
    unsigned char *scratch = NULL;
    if (*out_len < need && !(scratch = malloc(need)))
        return -ENOMEM;
    int n = EVP_DecodeBlock(scratch ? scratch : out, (const unsigned char *)in, (int)len);
    /* EVP_DecodeBlock counts the bytes that padding stands for; drop them. */
    if (n >= 0)
        n -= (int)pad;
    if (scratch) {
        if (n > 0)
            memcpy(out, scratch, (size_t)n);
        free(scratch);
    }
    if (n < 0)
        return -EINVAL;
    *out_len = (size_t)n;
    return 0;
}

int crypto_random(void *out, size_t n)
{
    unsigned char *p = out;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}
