/* SPDX-License-Identifier: Apache-2.0 */
/* kit: an authentic payload kanal cannot read, kept as kind "unknown" the
 * same way by every plugin, in tree or out of it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <kanal/kit.h>
#include <kanal/schema.h>

/* ---- SHA-256 (FIPS 180-4): a digest that needs no key and no libcrypto ---- */

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void block(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 =
            k + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

void kanal_kit_sha256(const void *data, size_t len, unsigned char out[32])
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const unsigned char *p = data;
    size_t n = len;
    for (; n >= 64; p += 64, n -= 64)
        block(h, p);
    unsigned char last[128] = {0};
    memcpy(last, p, n);
    last[n] = 0x80;
    size_t total = n + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        last[total - 1 - i] = (unsigned char)(bits >> (8 * i));
    block(h, last);
    if (total == 128)
        block(h, last + 64);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (unsigned char)(h[i] >> (24 - 8 * j));
}

/* ---- the record ---- */

#define ADD(b, lit) kanal_kit_buf_add((b), lit, sizeof lit - 1)

/* raw: the JSON itself, the text, or {"base64": ...}; see kit.h. */
static int add_raw(const struct kanal_host *host, struct kanal_kit_buf *b, const char *p,
                   size_t len, size_t max, int *truncated)
{
    *truncated = max && len > max;
    int depth;
    if (!*truncated && len && kanal_kit_json_valid(p, len, KANAL_MAX_DEPTH - 1, &depth))
        return kanal_kit_buf_add(b, p, len);
    size_t n = *truncated ? max : len;
    if (!memchr(p, '\0', n)) {
        /* A cut may split a UTF-8 sequence of up to four bytes. */
        for (size_t cut = 0; cut <= (*truncated ? 3 : 0) && cut <= n; cut++)
            if (kanal_kit_utf8_valid(p, n - cut))
                return kanal_kit_buf_json_string(b, p, n - cut);
    }
    char *b64 = malloc(4 * ((n + 2) / 3) + 1);
    if (!b64)
        return b->err = -ENOMEM;
    host->base64_encode(p, n, b64);
    ADD(b, "{\"base64\":\"");
    kanal_kit_buf_add(b, b64, strlen(b64));
    free(b64);
    return ADD(b, "\"}");
}

int kanal_kit_unknown_record(const struct kanal_host *host, const struct kanal_kit_unknown *u,
                             const void *payload, size_t len, char **out)
{
    *out = NULL;
    if (!payload)
        payload = "", len = 0;
    unsigned char digest[32];
    char hex[65], sha[65];
    /* Keyed, so the external id is kanal's and not a bare digest of a body. */
    host->hmac_sha256("kanal-unknown", 13, payload, len, digest);
    host->hex_encode(digest, sizeof digest, hex);
    kanal_kit_sha256(payload, len, digest);
    host->hex_encode(digest, sizeof digest, sha);

    struct kanal_kit_buf b = {0};
    const char *prefix = u && u->id_prefix ? u->id_prefix : "body";
    const char *reason = u && u->reason ? u->reason : "the payload is not a record";
    int truncated;
    char *ext = malloc(strlen(prefix) + 66);
    if (!ext)
        return -ENOMEM;
    strcpy(ext, prefix);
    strcat(ext, "-");
    strcat(ext, hex);
    ADD(&b, "{\"kind\":\"unknown\",\"direction\":\"inbound\",\"external_id\":");
    kanal_kit_buf_json_string(&b, ext, strlen(ext));
    free(ext);
    ADD(&b, ",\"raw\":");
    add_raw(host, &b, payload, len, u ? u->raw_max : 0, &truncated);
    ADD(&b, ",\"meta\":{\"reason\":");
    kanal_kit_buf_json_string(&b, reason, strlen(reason));
    kanal_kit_buf_printf(&b, ",\"body_size\":%zu,\"body_sha256\":\"%s\",\"raw_truncated\":%s}}",
                         len, sha, truncated ? "true" : "false");
    if (b.err) {
        int r = b.err;
        kanal_kit_buf_free(&b);
        return r;
    }
    *out = b.data;
    return 0;
}
