#include "crypto.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

static int hmac(const EVP_MD *md, const void *key, size_t key_len, const void *data, size_t len,
                unsigned char *out, unsigned expect)
{
    unsigned out_len = 0;
    if (key_len > 0x7fffffff)
        return -EINVAL;
    if (!HMAC(md, key, (int)key_len, data, len, out, &out_len) || out_len != expect)
        return -EIO;
    return 0;
}

int crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                       unsigned char out[32])
{
    return hmac(EVP_sha256(), key, key_len, data, len, out, 32);
}

int crypto_hmac_sha1(const void *key, size_t key_len, const void *data, size_t len,
                     unsigned char out[20])
{
    return hmac(EVP_sha1(), key, key_len, data, len, out, 20);
}

int crypto_sha256(const void *data, size_t len, unsigned char out[32])
{
    return SHA256(data, len, out) ? 0 : -EIO;
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
    if (*out_len < need)
        return -ENOBUFS;
    int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
    if (n < 0)
        return -EINVAL;
    /* EVP_DecodeBlock counts the bytes that padding stands for; drop them. */
    if (len >= 1 && in[len - 1] == '=')
        n--;
    if (len >= 2 && in[len - 2] == '=')
        n--;
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
