/* SPDX-License-Identifier: Apache-2.0 */
/* Client addresses: see netaddr.h. */
#include "netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void set_v6(struct net_addr *out, const uint8_t b[16])
{
    memset(out, 0, sizeof *out);
    if (memcmp(b, v4_mapped, sizeof v4_mapped) == 0) {
        out->family = 4;
        memcpy(out->bytes, b + 12, 4);
    } else {
        out->family = 6;
        memcpy(out->bytes, b, 16);
    }
}

int net_addr_parse(const char *s, size_t n, struct net_addr *out)
{
    char text[INET6_ADDRSTRLEN + 1];
    if (n == 0 || n >= sizeof text)
        return -EINVAL;
    memcpy(text, s, n);
    text[n] = '\0';
    uint8_t b[16];
    if (inet_pton(AF_INET, text, b) == 1) {
        memset(out, 0, sizeof *out);
        out->family = 4;
        memcpy(out->bytes, b, 4);
        return 0;
    }
    if (inet_pton(AF_INET6, text, b) == 1) {
        set_v6(out, b);
        return 0;
    }
    return -EINVAL;
}

int net_addr_from_sockaddr(const struct sockaddr *sa, struct net_addr *out)
{
    memset(out, 0, sizeof *out);
    if (sa->sa_family == AF_INET) {
        out->family = 4;
        memcpy(out->bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        set_v6(out, (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr);
        return 0;
    }
    return -EAFNOSUPPORT;
}

int net_addr_equal(const struct net_addr *a, const struct net_addr *b)
{
    return a->family == b->family && memcmp(a->bytes, b->bytes, a->family == 4 ? 4 : 16) == 0;
}

void net_addr_format(const struct net_addr *a, char *buf, size_t size)
{
    if (!a->family ||
        !inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->bytes, buf, (socklen_t)size))
        snprintf(buf, size, "?");
}

static int parse_cidr(const char *s, size_t n, struct net_cidr *out)
{
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    if (net_addr_parse(s, alen, &out->addr) < 0)
        return -EINVAL;
    unsigned max = out->addr.family == 4 ? 32 : 128;
    out->bits = max;
    if (slash) {
        const char *d = slash + 1, *end = s + n;
        if (d == end || end - d > 3)
            return -EINVAL;
        unsigned bits = 0;
        for (; d < end; d++) {
            if (*d < '0' || *d > '9')
                return -EINVAL;
            bits = bits * 10 + (unsigned)(*d - '0');
        }
        /* An IPv4-mapped block keeps meaning the IPv4 addresses it maps. */
        if (out->addr.family == 4 && memchr(s, ':', alen)) {
            if (bits < 96)
                return -EINVAL;
            bits -= 96;
        }
        if (bits > max)
            return -EINVAL;
        out->bits = bits;
    }
    return 0;
}

int net_cidr_list_parse(const char *text, struct net_cidr **out, char *bad, size_t bad_size)
{
    *out = NULL;
    int n = 0;
    const char *p = text;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            return n;
        size_t len = strcspn(p, " \t,");
        struct net_cidr c;
        if (parse_cidr(p, len, &c) < 0) {
            snprintf(bad, bad_size, "%.*s", (int)(len < 64 ? len : 64), p);
            free(*out);
            *out = NULL;
            return -EINVAL;
        }
        *out = xrealloc(*out, (size_t)(n + 1) * sizeof **out);
        (*out)[n++] = c;
        p += len;
    }
}

static int in_cidr(const struct net_cidr *c, const struct net_addr *a)
{
    if (c->addr.family != a->family)
        return 0;
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr.bytes, a->bytes, full) != 0)
        return 0;
    if (!rest)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->addr.bytes[full] & mask) == (a->bytes[full] & mask);
}

int net_cidr_match(const struct net_cidr *list, size_t n, const struct net_addr *a)
{
    for (size_t i = 0; i < n; i++)
        if (in_cidr(&list[i], a))
            return 1;
    return 0;
}

/* One X-Forwarded-For entry: an address, perhaps with a port. */
static int parse_forwarded(const char *s, size_t n, struct net_addr *out)
{
    if (n > 2 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        return close ? net_addr_parse(s + 1, (size_t)(close - s - 1), out) : -EINVAL;
    }
    const char *colon = memchr(s, ':', n);
    if (colon && !memchr(colon + 1, ':', n - (size_t)(colon + 1 - s)))
        n = (size_t)(colon - s); /* a.b.c.d:port */
    return net_addr_parse(s, n, out);
}

int net_forwarded_walk(const char *value, const struct net_cidr *trusted, size_t ntrusted,
                       struct net_addr *out, int *found)
{
    const char *end = value + strlen(value);
    while (end > value) {
        const char *start = end;
        while (start > value && start[-1] != ',')
            start--;
        const char *a = start, *b = end;
        end = start > value ? start - 1 : value;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (a == b)
            continue;
        struct net_addr addr;
        if (parse_forwarded(a, (size_t)(b - a), &addr) < 0)
            return 1;
        *out = addr;
        *found = 1;
        if (!net_cidr_match(trusted, ntrusted, &addr))
            return 1;
    }
    return 0;
}
