/* SPDX-License-Identifier: Apache-2.0 */
/* The LMTP listener (RFC 2033): an MTA (Postfix's lmtp: transport, say)
 * delivers straight into kanal.  Non-blocking sockets on the host's fd
 * watches; no threads.
 *
 * LHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT (and VRFY, refused politely).
 * After the final "." of DATA the message is parsed and emitted, and only
 * once the commit is durable does each accepted recipient get its reply, in
 * RCPT order: 250 when stored, 451 (try again later) when the store cannot
 * commit, so that the MTA keeps the mail queued.  One message gives one
 * record, whatever the number of recipients (they are in meta.envelope_to).
 * A message over max_message_size is read to its end and refused with 552.
 *
 * Anyone who reaches the listener can talk to it, so what a session can
 * hold is bounded by the source's lmtp_* options: sessions at once,
 * recipients, the length of a command line, commands between two messages,
 * and the replies queued for a client that does not read them (no command
 * is read while they are over the limit; lmtp_idle_timeout closes a session
 * that neither sends nor reads). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include "email.h"

#define MAX_PENDING_LINE 65536 /* a DATA line is passed on in pieces beyond this */

enum lmtp_state { CMD, DATA, WAIT };

struct session {
    struct lmtp *l;
    struct session *prev, *next;
    int fd;
    struct kanal_watch *watch;
    int watching; /* the events the watch has */
    char peer[80];
    enum lmtp_state state;
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_len, out_off, out_cap;
    int lhlo;
    char *mail_from;
    char **rcpt;
    size_t nrcpt;
    char *data;
    size_t data_len, data_cap;
    int data_mid_line, too_big;
    int64_t commands;    /* since the last message */
    int stalled_logged;  /* the replies-not-read line is logged */
    int quit;            /* close once the output is sent */
    int dead;            /* closed; freed when its commit completes */
    int64_t last_active; /* wall clock, ms */
};

struct lmtp {
    struct email *e;
    int fd;
    struct kanal_watch *watch;
    char *unix_path;
    struct session *sessions;
    unsigned nsessions;
    struct kanal_timer *sweep;
    char hostname[256];
    int stopping;
};

static int session_update(struct session *s);
static int session_process(struct session *s);

static int64_t now_ms(struct lmtp *l)
{
    return l->e->host->now_ms();
}

/* The client has not read enough of its replies to be given more. */
static int replies_full(const struct session *s)
{
    return s->out_len - s->out_off > (size_t)s->l->e->lmtp_max_reply_queue;
}

/* ---- buffers ---- */

static int grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    char *p = realloc(*buf, c);
    if (!p)
        return -ENOMEM;
    *buf = p;
    *cap = c;
    return 0;
}

static void reply(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reply(struct session *s, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 2, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 3)
        n = (int)sizeof line - 3;
    memcpy(line + n, "\r\n", 3);
    n += 2;
    if (grow(&s->out, &s->out_cap, s->out_len + (size_t)n) < 0)
        return;
    memcpy(s->out + s->out_len, line, (size_t)n);
    s->out_len += (size_t)n;
}

/* ---- session lifetime ---- */

static void reset_transaction(struct session *s)
{
    free(s->mail_from);
    s->mail_from = NULL;
    for (size_t i = 0; i < s->nrcpt; i++)
        free(s->rcpt[i]);
    free(s->rcpt);
    s->rcpt = NULL;
    s->nrcpt = 0;
    free(s->data);
    s->data = NULL;
    s->data_len = s->data_cap = 0;
    s->data_mid_line = s->too_big = 0;
}

static void session_free(struct session *s)
{
    reset_transaction(s);
    free(s->in);
    free(s->out);
    free(s);
}

/* Close the connection.  A session whose message is being committed stays
 * allocated until the commit's callback. */
static void session_close(struct session *s)
{
    struct lmtp *l = s->l;
    if (s->dead)
        return;
    if (s->watch)
        l->e->host->unwatch_fd(s->watch);
    s->watch = NULL;
    s->watching = 0;
    close(s->fd);
    s->fd = -1;
    s->dead = 1;
    if (s->prev)
        s->prev->next = s->next;
    else
        l->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    l->nsessions--;
    if (s->state != WAIT)
        session_free(s);
}

/* Send what is queued; 0 when all of it went, 1 when the socket is full,
 * -1 when the connection is gone (the session is closed). */
static int flush(struct session *s)
{
    while (s->out_off < s->out_len) {
        ssize_t n =
            send(s->fd, s->out + s->out_off, s->out_len - s->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 1;
        if (n <= 0) {
            session_close(s);
            return -1;
        }
        s->out_off += (size_t)n;
    }
    s->out_off = s->out_len = 0;
    if (s->quit) {
        session_close(s);
        return -1;
    }
    return 0;
}

static void on_session_event(void *arg, int fd, int events);

/* Watch for what the session waits for: input unless a commit is pending,
 * output while replies are queued.  -1 when the session is closed. */
static int session_update(struct session *s)
{
    if (s->dead || flush(s) < 0)
        return -1;
    int want = (s->state != WAIT && !s->quit && !replies_full(s) ? KANAL_WATCH_READ : 0) |
               (s->out_len > s->out_off ? KANAL_WATCH_WRITE : 0);
    if (want == s->watching)
        return 0;
    struct kanal_host const *host = s->l->e->host;
    if (s->watch)
        host->unwatch_fd(s->watch);
    s->watch = NULL;
    s->watching = 0;
    if (want && host->watch_fd(s->l->e->src, s->fd, want, on_session_event, s, &s->watch) < 0) {
        session_close(s);
        return -1;
    }
    s->watching = want;
    return 0;
}

/* ---- the commit ---- */

/* One message on its way to the store. */
struct delivery {
    struct mail_batch batch;
    struct session *s;
};

/* Each accepted recipient's reply, once the message is stored (250, also
 * when kept as unknown) or not (451: the MTA keeps it queued). */
static void delivery_done(void *arg, const struct kanal_kit_result *res)
{
    struct delivery *d = arg;
    int status = res->status;
    struct session *s = d->s;
    batch_free(s->l->e, &d->batch);
    free(d);
    for (size_t i = 0; i < s->nrcpt; i++) {
        if (res->outcome != KANAL_KIT_COMMITTED)
            reply(s, "451 4.3.0 <%s> cannot store the message now (%s); try again later",
                  s->rcpt[i], s->l->e->host->strerror(status));
        else
            reply(s, "250 2.1.5 <%s> delivered", s->rcpt[i]);
    }
    if (res->outcome != KANAL_KIT_COMMITTED)
        s->l->e->host->log(s->l->e->src, KANAL_LOG_WARNING,
                           "lmtp: message from %s deferred with 451: %s", s->peer,
                           s->l->e->host->strerror(status));
    reset_transaction(s);
    s->state = CMD;
    if (s->dead) {
        session_free(s);
        return;
    }
    if (s->l->stopping) {
        reply(s, "421 4.3.2 %s kanal LMTP is shutting down", s->l->hostname);
        s->quit = 1;
    }
    if (session_update(s) == 0)
        session_process(s); /* pipelined commands that arrived meanwhile */
}

/* The message kanald refused, kept as kind unknown; the refused batch's
 * Message-IDs stop counting as pending (kanald is done with it). */
static int build_unknown(void *arg, char **out)
{
    struct delivery *d = arg;
    struct session *s = d->s;
    batch_free(s->l->e, &d->batch);
    batch_init(&d->batch);
    struct mail_origin o = {.via = "lmtp",
                            .envelope_from = s->mail_from,
                            .envelope_to = s->rcpt,
                            .nenvelope_to = s->nrcpt};
    return mail_unknown_json(s->l->e, s->data ? s->data : "", s->data_len, &o,
                             "its record was refused", out);
}

/* The final "." of DATA: store the message, answer after the commit. */
static void end_of_data(struct session *s)
{
    struct email *e = s->l->e;
    s->state = CMD; /* WAIT below, once the message is on its way */
    s->commands = 0;
    if (s->too_big) {
        for (size_t i = 0; i < s->nrcpt; i++)
            reply(s, "552 5.3.4 <%s> message exceeds the size limit of %lld bytes", s->rcpt[i],
                  (long long)e->max_message_size);
        reset_transaction(s);
        return;
    }
    struct delivery *d = calloc(1, sizeof *d);
    struct mail_batch *b = d ? &d->batch : NULL;
    if (!d) {
        for (size_t i = 0; i < s->nrcpt; i++)
            reply(s, "451 4.3.0 <%s> out of memory; try again later", s->rcpt[i]);
        reset_transaction(s);
        return;
    }
    d->s = s;
    batch_init(b);
    struct mail_origin o = {.via = "lmtp",
                            .envelope_from = s->mail_from,
                            .envelope_to = s->rcpt,
                            .nenvelope_to = s->nrcpt};
    /* A record kanald refuses (its log names the field): keep the message
     * all the same, without its dedup entries. */
    const struct kanal_kit_fallback fb = {.build = build_unknown, .build_arg = d};
    int r = batch_add_message(e, b, s->data ? s->data : "", s->data_len, &o, 0);
    if (r == 0)
        r = batch_emit(e, b, &fb, delivery_done, d);
    if (r < 0) {
        batch_free(e, b);
        free(d);
        for (size_t i = 0; i < s->nrcpt; i++)
            reply(s, "451 4.3.0 <%s> cannot store the message now (%s); try again later",
                  s->rcpt[i], e->host->strerror(r));
        reset_transaction(s);
        return;
    }
    s->state = WAIT;
}

/* ---- commands ---- */

/* The address in "<addr>" (after FROM: or TO:); NULL when malformed. */
static char *path_arg(const char *p, const char **rest)
{
    while (*p == ' ')
        p++;
    if (*p != '<')
        return NULL;
    const char *end = strchr(p, '>');
    if (!end || end - p > 512)
        return NULL;
    *rest = end + 1;
    for (const char *c = p + 1; c < end; c++)
        if ((unsigned char)*c < 0x20 || *c == ' ')
            return NULL;
    return strndup(p + 1, (size_t)(end - p - 1));
}

static void command(struct session *s, char *line)
{
    struct email *e = s->l->e;
    size_t vl = strcspn(line, " ");
    char verb[16];
    snprintf(verb, sizeof verb, "%.*s", (int)(vl < sizeof verb - 1 ? vl : sizeof verb - 1), line);
    const char *arg = line + vl;
    while (*arg == ' ')
        arg++;
    if (++s->commands > e->lmtp_max_commands) {
        /* NOOPs, RSETs or refused commands without end: nothing to store. */
        e->host->log(e->src, KANAL_LOG_WARNING,
                     "lmtp: closing the session from %s: more than %lld commands without a "
                     "message (lmtp_max_commands)",
                     s->peer, (long long)e->lmtp_max_commands);
        reply(s, "421 4.7.0 %s too many commands without a message; closing", s->l->hostname);
        s->quit = 1;
        return;
    }
    if (strcasecmp(verb, "LHLO") == 0) {
        if (!*arg) {
            reply(s, "501 5.5.4 LHLO needs a host name");
            return;
        }
        reset_transaction(s);
        s->lhlo = 1;
        reply(s, "250-%s", s->l->hostname);
        reply(s, "250-PIPELINING");
        reply(s, "250-ENHANCEDSTATUSCODES");
        reply(s, "250-8BITMIME");
        reply(s, "250 SIZE %lld", (long long)e->max_message_size);
    } else if (strcasecmp(verb, "HELO") == 0 || strcasecmp(verb, "EHLO") == 0) {
        reply(s, "500 5.5.1 this is LMTP: use LHLO");
    } else if (strcasecmp(verb, "MAIL") == 0) {
        const char *rest;
        char *from = strncasecmp(arg, "FROM:", 5) == 0 ? path_arg(arg + 5, &rest) : NULL;
        if (!s->lhlo)
            reply(s, "503 5.5.1 send LHLO first");
        else if (s->mail_from)
            reply(s, "503 5.5.1 nested MAIL command");
        else if (!from)
            reply(s, "501 5.5.4 syntax: MAIL FROM:<address>");
        else {
            const char *size = strcasestr(rest, "SIZE=");
            if (size && strtoll(size + 5, NULL, 10) > e->max_message_size) {
                reply(s, "552 5.3.4 message exceeds the size limit of %lld bytes",
                      (long long)e->max_message_size);
            } else {
                s->mail_from = from;
                from = NULL;
                reply(s, "250 2.1.0 sender OK");
            }
        }
        free(from);
    } else if (strcasecmp(verb, "RCPT") == 0) {
        const char *rest;
        char *to = strncasecmp(arg, "TO:", 3) == 0 ? path_arg(arg + 3, &rest) : NULL;
        char **grown;
        if (!s->mail_from)
            reply(s, "503 5.5.1 need MAIL first");
        else if (!to || !strchr(to, '@'))
            reply(s, "501 5.1.3 syntax: RCPT TO:<address>");
        else if (s->nrcpt >= (size_t)e->lmtp_max_recipients)
            reply(s, "452 4.5.3 too many recipients");
        else if (!(grown = realloc(s->rcpt, (s->nrcpt + 1) * sizeof *grown)))
            reply(s, "452 4.3.0 out of memory");
        else {
            s->rcpt = grown;
            s->rcpt[s->nrcpt++] = to;
            to = NULL;
            reply(s, "250 2.1.5 recipient OK");
        }
        free(to);
    } else if (strcasecmp(verb, "DATA") == 0) {
        if (!s->mail_from)
            reply(s, "503 5.5.1 need MAIL first");
        else if (!s->nrcpt)
            reply(s, "503 5.5.1 need RCPT first");
        else {
            s->state = DATA;
            reply(s, "354 2.0.0 go ahead; end with <CRLF>.<CRLF>");
        }
    } else if (strcasecmp(verb, "RSET") == 0) {
        reset_transaction(s);
        reply(s, "250 2.0.0 OK");
    } else if (strcasecmp(verb, "NOOP") == 0) {
        reply(s, "250 2.0.0 OK");
    } else if (strcasecmp(verb, "VRFY") == 0) {
        reply(s, "252 2.5.0 cannot VRFY; send the message");
    } else if (strcasecmp(verb, "QUIT") == 0) {
        reply(s, "221 2.0.0 %s closing", s->l->hostname);
        s->quit = 1;
    } else {
        reply(s, "500 5.5.2 command not recognised");
    }
}

/* Message data, dot-unstuffed; the lines end in CRLF as on the wire. */
static void data_append(struct session *s, const char *p, size_t n, int eol)
{
    size_t add = n + (eol ? 2 : 0);
    if (s->too_big || s->data_len + add > (size_t)s->l->e->max_message_size) {
        s->too_big = 1;
        return;
    }
    if (grow(&s->data, &s->data_cap, s->data_len + add + 1) < 0) {
        s->too_big = 1;
        return;
    }
    memcpy(s->data + s->data_len, p, n);
    s->data_len += n;
    if (eol) {
        memcpy(s->data + s->data_len, "\r\n", 2);
        s->data_len += 2;
    }
    s->data[s->data_len] = '\0';
}

static void line_too_long(struct session *s)
{
    struct email *e = s->l->e;
    e->host->log(e->src, KANAL_LOG_WARNING,
                 "lmtp: closing the session from %s: a command line over %lld bytes "
                 "(lmtp_max_command_line)",
                 s->peer, (long long)e->lmtp_max_command_line);
    reply(s, "500 5.5.0 line too long");
    s->quit = 1;
}

/* Handle the complete lines in the input buffer.  -1 when the session is
 * closed. */
static int session_process(struct session *s)
{
    size_t pos = 0;
    int held; /* commands wait for the client to read its replies */
again:
    held = 0;
    while (s->state != WAIT && !s->quit) {
        if (replies_full(s)) {
            held = 1;
            if (!s->stalled_logged)
                s->l->e->host->log(s->l->e->src, KANAL_LOG_NOTICE,
                                   "lmtp: %s does not read its replies (%zu bytes queued): its "
                                   "commands wait until it does (lmtp_max_reply_queue)",
                                   s->peer, s->out_len - s->out_off);
            s->stalled_logged = 1;
            break;
        }
        char *start = s->in + pos;
        char *lf = memchr(start, '\n', s->in_len - pos);
        if (!lf) {
            size_t left = s->in_len - pos;
            /* (Its CR and LF may be on their way.) */
            if (s->state == CMD && left > (size_t)s->l->e->lmtp_max_command_line + 2) {
                line_too_long(s);
            } else if (s->state == DATA && left > MAX_PENDING_LINE) {
                /* A very long line: pass it on in pieces (it cannot be "."). */
                data_append(s, start, left - 1, 0);
                s->data_mid_line = 1;
                pos += left - 1;
            }
            break;
        }
        size_t len = (size_t)(lf - start);
        size_t next = pos + len + 1;
        if (len && start[len - 1] == '\r')
            len--;
        if (s->state == CMD && len > (size_t)s->l->e->lmtp_max_command_line) {
            line_too_long(s);
            break;
        }
        start[len] = '\0';
        pos = next;
        if (s->state == CMD) {
            command(s, start);
        } else if (!s->data_mid_line && len == 1 && start[0] == '.') {
            end_of_data(s);
        } else {
            const char *p = start;
            if (!s->data_mid_line && len >= 2 && start[0] == '.') { /* dot-stuffed */
                p++;
                len--;
            }
            data_append(s, p, len, 1);
            s->data_mid_line = 0;
        }
    }
    if (pos) {
        memmove(s->in, s->in + pos, s->in_len - pos);
        s->in_len -= pos;
        pos = 0;
    }
    if (session_update(s) < 0)
        return -1;
    /* The queued replies went out at once: go on with the commands already
     * read, for no event will come for them. */
    if (held && s->state != WAIT && !s->quit && !replies_full(s))
        goto again;
    return 0;
}

static void on_session_event(void *arg, int fd, int events)
{
    (void)fd;
    struct session *s = arg;
    s->last_active = now_ms(s->l);
    if ((events & KANAL_WATCH_WRITE) && flush(s) < 0)
        return;
    if (!(events & KANAL_WATCH_READ) || s->state == WAIT || replies_full(s)) {
        session_process(s); /* commands held back while the replies were full */
        return;
    }
    for (int rounds = 0; rounds < 16; rounds++) {
        if (grow(&s->in, &s->in_cap, s->in_len + 16384 + 1) < 0) {
            session_close(s);
            return;
        }
        ssize_t n = recv(s->fd, s->in + s->in_len, 16384, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            session_close(s); /* the client went away */
            return;
        }
        s->in_len += (size_t)n;
        s->in[s->in_len] = '\0';
        if ((size_t)n < 16384)
            break;
    }
    session_process(s);
}

/* ---- the listener ---- */

static void on_accept(void *arg, int fd, int events)
{
    (void)events;
    struct lmtp *l = arg;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int c = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0)
            return; /* EAGAIN, or an error worth no more than the next try */
        if ((int64_t)l->nsessions >= l->e->lmtp_max_sessions) {
            static const char busy[] = "421 4.3.2 too many connections; try again later\r\n";
            ssize_t ignored = send(c, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)ignored;
            close(c);
            continue;
        }
        struct session *s = calloc(1, sizeof *s);
        if (!s) {
            close(c);
            continue;
        }
        s->l = l;
        s->fd = c;
        s->last_active = now_ms(l);
        if (ss.ss_family == AF_UNIX)
            snprintf(s->peer, sizeof s->peer, "unix socket");
        else if (getnameinfo((struct sockaddr *)&ss, sl, s->peer, sizeof s->peer, NULL, 0,
                             NI_NUMERICHOST) != 0)
            snprintf(s->peer, sizeof s->peer, "?");
        s->next = l->sessions;
        if (l->sessions)
            l->sessions->prev = s;
        l->sessions = s;
        l->nsessions++;
        reply(s, "220 %s kanal LMTP ready", l->hostname);
        session_update(s);
    }
}

static void on_sweep(void *arg)
{
    struct lmtp *l = arg;
    int64_t now = now_ms(l); /* a clock set back makes sessions look young, not old */
    for (struct session *s = l->sessions, *n; s; s = n) {
        n = s->next;
        if (s->state != WAIT && now - s->last_active > l->e->lmtp_idle_timeout_ms) {
            l->e->host->log(l->e->src, KANAL_LOG_NOTICE,
                            "lmtp: closing the session from %s: idle for %lld ms, neither "
                            "sending nor reading its replies (lmtp_idle_timeout)",
                            s->peer, (long long)l->e->lmtp_idle_timeout_ms);
            reply(s, "421 4.4.2 %s idle for too long; closing", l->hostname);
            s->quit = 1;
            if (flush(s) > 0) /* the socket is full: give up on the rest */
                session_close(s);
        }
    }
}

int lmtp_create(struct email *e, struct lmtp **out)
{
    struct lmtp *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->e = e;
    l->fd = -1;
    if (gethostname(l->hostname, sizeof l->hostname - 1) < 0 || !l->hostname[0])
        snprintf(l->hostname, sizeof l->hostname, "localhost");
    *out = l;
    return 0;
}

int lmtp_start(struct lmtp *l)
{
    struct email *e = l->e;
    int r = lmtp_listen(e, e->lmtp_listen, &l->fd, &l->unix_path);
    if (r < 0)
        return r;
    if ((r = e->host->watch_fd(e->src, l->fd, KANAL_WATCH_READ, on_accept, l, &l->watch)) < 0 ||
        (r = e->host->timer_start(e->src, lmtp_sweep_ms(e), lmtp_sweep_ms(e), on_sweep, l,
                                  &l->sweep)) < 0) {
        lmtp_stop(l);
        return r;
    }
    return 0;
}

void lmtp_stop(struct lmtp *l)
{
    struct kanal_host const *host = l->e->host;
    l->stopping = 1;
    if (l->sweep)
        host->timer_stop(l->sweep);
    l->sweep = NULL;
    if (l->watch)
        host->unwatch_fd(l->watch);
    l->watch = NULL;
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    if (l->unix_path)
        unlink(l->unix_path);
    /* Sessions waiting for a commit get their replies from its callback;
     * the others are closed now. */
    for (struct session *s = l->sessions, *n; s; s = n) {
        n = s->next;
        if (s->state != WAIT) {
            reply(s, "421 4.3.2 %s kanal LMTP is shutting down", l->hostname);
            s->quit = 1;
            if (flush(s) > 0) /* the socket is full: give up on the rest */
                session_close(s);
        }
    }
}

void lmtp_free(struct lmtp *l)
{
    /* Every commit has completed by now (destroy waits for them). */
    while (l->sessions)
        session_close(l->sessions);
    free(l->unix_path);
    free(l);
}
