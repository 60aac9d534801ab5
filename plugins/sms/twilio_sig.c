/* SPDX-License-Identifier: Apache-2.0 */
/* Twilio request signatures; see twilio_sig.h.  Only libc here: the unit
 * tests compile this file into a test binary of their own. */
#include "twilio_sig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int param_cmp(const void *a, const void *b)
{
    const struct twilio_param *x = *(const struct twilio_param *const *)a;
    const struct twilio_param *y = *(const struct twilio_param *const *)b;
    int r = strcmp(x->name, y->name);
    return r ? r : strcmp(x->value, y->value);
}

char *twilio_signed_text(const char *url, const struct twilio_param *params, size_t n)
{
    size_t len = strlen(url);
    for (size_t i = 0; i < n; i++)
        len += strlen(params[i].name) + strlen(params[i].value);
    const struct twilio_param **sorted = malloc((n ? n : 1) * sizeof *sorted);
    char *out = malloc(len + 1);
    if (!sorted || !out) {
        free(sorted);
        free(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        sorted[i] = &params[i];
    qsort(sorted, n, sizeof *sorted, param_cmp);
    char *p = out;
    size_t l = strlen(url);
    memcpy(p, url, l);
    p += l;
    for (size_t i = 0; i < n; i++) {
        l = strlen(sorted[i]->name);
        memcpy(p, sorted[i]->name, l);
        p += l;
        l = strlen(sorted[i]->value);
        memcpy(p, sorted[i]->value, l);
        p += l;
    }
    *p = '\0';
    free(sorted);
    return out;
}

int twilio_sign(const struct twilio_crypto *c, const char *token, const char *url,
                const struct twilio_param *params, size_t n, char out[TWILIO_SIG_LEN + 1])
{
    char *text = twilio_signed_text(url, params, n);
    if (!text)
        return -ENOMEM;
    unsigned char mac[20];
    int r = c->hmac_sha1(token, strlen(token), text, strlen(text), mac);
    free(text);
    if (r < 0)
        return r;
    return c->base64_encode(mac, sizeof mac, out);
}

char *twilio_request_url(const char *public_url, const char *query)
{
    size_t base = strcspn(public_url, "?#");
    size_t ql = query ? strlen(query) : 0;
    char *out = malloc(base + ql + 2);
    if (!out)
        return NULL;
    memcpy(out, public_url, base);
    out[base] = '\0';
    if (ql) {
        out[base] = '?';
        memcpy(out + base + 1, query, ql + 1);
    }
    return out;
}

char *twilio_url_port_variant(const char *url)
{
    const char *port;
    if (strncmp(url, "https://", 8) == 0)
        port = "443";
    else if (strncmp(url, "http://", 7) == 0)
        port = "80";
    else
        return NULL;
    const char *host = strstr(url, "://") + 3;
    const char *end = host + strcspn(host, "/?#");
    /* The port is after the last ':' that follows any IPv6 literal's ']'. */
    const char *colon = NULL;
    for (const char *p = host; p < end; p++) {
        if (*p == ':')
            colon = p;
        else if (*p == ']')
            colon = NULL;
    }
    size_t plen = strlen(port);
    char *out;
    if (colon) {
        if ((size_t)(end - colon - 1) != plen || strncmp(colon + 1, port, plen) != 0)
            return NULL; /* some other port: only that one is right */
        out = malloc(strlen(url) + 1);
        if (!out)
            return NULL;
        size_t head = (size_t)(colon - url);
        memcpy(out, url, head);
        strcpy(out + head, end);
        return out;
    }
    out = malloc(strlen(url) + plen + 2);
    if (!out)
        return NULL;
    size_t head = (size_t)(end - url);
    memcpy(out, url, head);
    out[head] = ':';
    memcpy(out + head + 1, port, plen);
    strcpy(out + head + 1 + plen, end);
    return out;
}

static int matches(const struct twilio_crypto *c, const char *token, const char *url,
                   const struct twilio_param *params, size_t n, const char *sig)
{
    char want[TWILIO_SIG_LEN + 1];
    if (twilio_sign(c, token, url, params, n, want) < 0)
        return 0;
    return c->equal_ct(want, sig, TWILIO_SIG_LEN);
}

int twilio_signature_ok(const struct twilio_crypto *c, const char *token, const char *url,
                        const struct twilio_param *params, size_t n, const char *sig)
{
    if (!sig || strlen(sig) != TWILIO_SIG_LEN)
        return 0;
    if (matches(c, token, url, params, n, sig))
        return 1;
    char *other = twilio_url_port_variant(url);
    int ok = other && matches(c, token, other, params, n, sig);
    free(other);
    return ok;
}
