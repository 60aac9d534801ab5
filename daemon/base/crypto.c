/* SPDX-License-Identifier: Apache-2.0 */
#include "crypto.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* SHA256_CTX (below) is OpenSSL's low-level API: deprecated since 3.0 in
 * favour of EVP, and kept in every 3.x. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

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

/* HMAC-SHA256 keeps the keyed states (the key's two pad blocks hashed) of
 * the last keys it was given: a source signs every webhook with the same
 * secret, and those two blocks are a fifth of what a typical webhook
 * hashes.  The states are SHA256_CTX, copied by assignment; EVP's contexts
 * cannot be copied without an allocation, and EVP's dispatch per call cost
 * as much again (about 26,000 instructions per webhook under callgrind,
 * against 14,000 this way).  The same assembly does the hashing, with the
 * CPU's SHA extensions where it has them.  The cache holds copies of
 * secrets kanald holds anyway; a key longer than HMAC_KEY_MAX is not kept. */
#define HMAC_KEYS 8
#define HMAC_KEY_MAX 256

struct hmac_key {
    uint64_t used; /* when it was last used (hmac_clock); 0: free */
    size_t len;
    unsigned char key[HMAC_KEY_MAX];
    SHA256_CTX inner, outer;
};

static struct hmac_key hmac_keys[HMAC_KEYS];
static uint64_t hmac_clock;
static pthread_mutex_t hmac_lock = PTHREAD_MUTEX_INITIALIZER;

static void sha256_pads(const void *key, size_t key_len, SHA256_CTX *inner, SHA256_CTX *outer)
{
    unsigned char k[SHA256_CBLOCK] = {0}, pad[SHA256_CBLOCK];
    if (key_len > SHA256_CBLOCK)
        SHA256(key, key_len, k);
    else
        memcpy(k, key, key_len);
    for (unsigned i = 0; i < SHA256_CBLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    SHA256_Init(inner);
    SHA256_Update(inner, pad, sizeof pad);
    for (unsigned i = 0; i < SHA256_CBLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    SHA256_Init(outer);
    SHA256_Update(outer, pad, sizeof pad);
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
}

int crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                       unsigned char out[32])
{
    SHA256_CTX inner, outer;
    if (key_len <= HMAC_KEY_MAX) {
        pthread_mutex_lock(&hmac_lock);
        struct hmac_key *e = NULL, *oldest = &hmac_keys[0];
        for (size_t i = 0; i < HMAC_KEYS && !e; i++) {
            struct hmac_key *c = &hmac_keys[i];
            /* Constant time: a plugin may pass a key a peer chose. */
            if (c->used && c->len == key_len && CRYPTO_memcmp(c->key, key, key_len) == 0)
                e = c;
            else if (c->used < oldest->used)
                oldest = c;
        }
        if (!e) {
            e = oldest;
            e->len = key_len;
            memcpy(e->key, key, key_len);
            sha256_pads(key, key_len, &e->inner, &e->outer);
        }
        e->used = ++hmac_clock;
        inner = e->inner;
        outer = e->outer;
        pthread_mutex_unlock(&hmac_lock);
    } else {
        sha256_pads(key, key_len, &inner, &outer);
    }
    unsigned char ih[SHA256_DIGEST_LENGTH];
    int ok = SHA256_Update(&inner, data, len) && SHA256_Final(ih, &inner) &&
             SHA256_Update(&outer, ih, sizeof ih) && SHA256_Final(out, &outer);
    OPENSSL_cleanse(&inner, sizeof inner);
    OPENSSL_cleanse(&outer, sizeof outer);
    OPENSSL_cleanse(ih, sizeof ih);
    return ok ? 0 : -EIO;
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
