/* SPDX-License-Identifier: Apache-2.0 */
/* The LMTP listener's socket and limits: where it listens (a unix socket,
 * or HOST:PORT, with a warning when that is not loopback, for LMTP has no
 * authentication) and the lmtp_* options checked at init. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "email.h"

/* 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104: only this host can connect. */
static int is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

static int listen_unix(const char *path, int *out)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path); /* left by an earlier run */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || chmod(path, 0660) < 0 ||
        listen(fd, 64) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    *out = fd;
    return 0;
}

static int listen_inet(const char *spec, int *out)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof host)
        return -EINVAL;
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    if (host[0] == '[') { /* [::1]:24 */
        size_t hl = strlen(host);
        if (host[hl - 1] != ']')
            return -EINVAL;
        host[hl - 1] = '\0';
        memmove(host, host + 1, hl - 1);
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
        return -EINVAL;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1, r = 0;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0)
        r = -errno;
    freeaddrinfo(ai);
    if (r < 0) {
        if (fd >= 0)
            close(fd);
        return r;
    }
    *out = fd;
    return 0;
}

int lmtp_check_limits(struct email *e)
{
    const struct {
        const char *name;
        int64_t value, min;
    } limits[] = {
        {"lmtp_max_sessions", e->lmtp_max_sessions, 1},
        {"lmtp_max_recipients", e->lmtp_max_recipients, 1},
        /* LHLO, MAIL, each RCPT and DATA: one whole message must fit. */
        {"lmtp_max_commands", e->lmtp_max_commands, e->lmtp_max_recipients + 3},
        {"lmtp_max_command_line", e->lmtp_max_command_line, 512}, /* RFC 5321 4.5.3.1.4 */
        {"lmtp_max_reply_queue", e->lmtp_max_reply_queue, 1024},
        {"lmtp_idle_timeout", e->lmtp_idle_timeout_ms, 1000},
    };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        if (limits[i].value < limits[i].min) {
            e->host->log(e->src, KANAL_LOG_ERR, "%s = %lld: must be at least %lld%s",
                         limits[i].name, (long long)limits[i].value, (long long)limits[i].min,
                         i == 2 ? " (lmtp_max_recipients + 3)" : "");
            return KANAL_ECONFIG;
        }
    return 0;
}

/* Idle sessions are looked for often enough to close them near their
 * timeout. */
int64_t lmtp_sweep_ms(const struct email *e)
{
    int64_t ms = e->lmtp_idle_timeout_ms / 4;
    return ms < 250 ? 250 : ms > 10000 ? 10000 : ms;
}

/* Log where the listener accepts; warn when others than this host can
 * reach it. */
static void log_listening(struct email *e, int fd, const char *spec)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[INET6_ADDRSTRLEN], port[16];
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 ||
        getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return;
    const char *b = ss.ss_family == AF_INET6 ? "[" : "";
    const char *k = ss.ss_family == AF_INET6 ? "]" : "";
    e->host->log(e->src, KANAL_LOG_NOTICE, "lmtp: accepting on %s%s%s:%s", b, host, k, port);
    if (!is_loopback(&ss))
        e->host->log(e->src, KANAL_LOG_WARNING,
                     "lmtp: listening on %s%s%s:%s (lmtp_listen = %s), which is not a loopback "
                     "address: LMTP has no authentication, so anyone who can reach it can inject "
                     "mail; use 127.0.0.1, [::1] or a unix: socket, or firewall the port",
                     b, host, k, port, spec);
}

int lmtp_listen(struct email *e, const char *spec, int *fd, char **unix_path)
{
    int r = strncmp(spec, "unix:", 5) == 0 ? listen_unix(spec + 5, fd) : listen_inet(spec, fd);
    if (r < 0) {
        e->host->log(e->src, KANAL_LOG_ERR, "lmtp: cannot listen on %s: %s", spec,
                     r == -EINVAL ? "expected HOST:PORT, [IPv6]:PORT or unix:/path"
                                  : e->host->strerror(r));
        return r == -EINVAL ? KANAL_ECONFIG : r;
    }
    if (strncmp(spec, "unix:", 5) == 0) {
        *unix_path = strdup(spec + 5);
        e->host->log(e->src, KANAL_LOG_NOTICE, "lmtp: accepting on %s", spec);
    } else {
        log_listening(e, *fd, spec);
    }
    return 0;
}
