/* SPDX-License-Identifier: Apache-2.0 */
/* Client addresses for the HTTP server's per-client limit: parsed from a
 * socket or from X-Forwarded-For, compared, and matched against the
 * trusted_proxies list (addresses and CIDR blocks, IPv4 and IPv6). */
#ifndef KANAL_NETADDR_H
#define KANAL_NETADDR_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

struct net_addr {
    uint8_t family; /* 4 or 6; 0: no address */
    uint8_t bytes[16];
};

struct net_cidr {
    struct net_addr addr;
    unsigned bits;
};

/* An IPv4 or IPv6 address of n bytes; IPv4-mapped IPv6 (::ffff:a.b.c.d)
 * becomes IPv4, so that one client is one address whatever the socket. */
int net_addr_parse(const char *s, size_t n, struct net_addr *out);
int net_addr_from_sockaddr(const struct sockaddr *sa, struct net_addr *out);
int net_addr_equal(const struct net_addr *a, const struct net_addr *b);
void net_addr_format(const struct net_addr *a, char *buf, size_t size);
/* "127.0.0.1, 10.0.0.0/8 ::1 fd00::/8": commas or spaces between entries.
 * Returns the number of entries (*out NULL for none), or -EINVAL with the
 * bad entry copied to bad. */
int net_cidr_list_parse(const char *text, struct net_cidr **out, char *bad, size_t bad_size);
int net_cidr_match(const struct net_cidr *list, size_t n, const struct net_addr *a);
/* Walk one X-Forwarded-For value from the right: every proxy appends the
 * address it was sent the request from, so only the entries up to the
 * first one that is not a trusted proxy can be believed, and that one is
 * the client.  Each entry read sets *out and *found.  Returns 1 when the
 * walk is over (an untrusted entry, or one that is no address: *out stays
 * the last good one), 0 when every entry was a trusted proxy and an
 * earlier X-Forwarded-For header goes on (then the left-most is the
 * client). */
int net_forwarded_walk(const char *value, const struct net_cidr *trusted, size_t ntrusted,
                       struct net_addr *out, int *found);

#endif
