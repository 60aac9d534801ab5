/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP server (daemon/net/http*.c) on a real libuv loop and real loopback
 * sockets: the input is a script for up to two clients and for the
 * handler.  Each op is one byte:
 *
 *   op % 8 == 0..3  send the next size(op / 8) bytes of the input (1 to 16,
 *                   then 32 to 1M) to the client (op % 2), then let the loop
 *                   run: any split of a request, pipelined requests in one
 *                   send
 *   4  answer the oldest request the handler kept for later
 *   5  half-close a client (shutdown SHUT_WR: it still reads its answers)
 *   6  reset a client (SO_LINGER 0, close: RST, answers fail to write)
 *   7  read what the client has received, so the server's writes go on
 *
 * The handler takes one byte per request from the same input: answer at
 * once (200 with the body's length, or an error), answer later, add a
 * header, or answer a HEAD.  Answers given after the client is gone must be
 * safe (http.h promises it), every connection must close, and the server
 * must shut down and free everything (LeakSanitizer checks) whatever the
 * order.  This is where a request answered after its connection closed
 * mid-parse, with later pipelined requests still dispatched, was found. */
#include "fuzz.h"

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "http.h"

#define MAX_PENDING 64

struct run {
    struct fuzz_in in;
    uv_loop_t loop;
    struct http_server *server;
    struct http_req *pending[MAX_PENDING];
    size_t npending;
    int fd[2];
    int closed;
    /* What each client reads back must be well-formed HTTP/1.1 responses
     * (a HEAD's answer has no body: the check stops once one was asked). */
    http_parser resp[2];
    int head_seen;
};

/* A response that says "Connection: close" is the last on its connection
 * (RFC 9112 9.6): p->data counts the responses after one. */
static int on_response_begin(http_parser *p)
{
    if (p->data)
        FUZZ_FAIL("a response after one that said Connection: close");
    return 0;
}

static int on_response_complete(http_parser *p)
{
    if (!http_should_keep_alive(p))
        p->data = p;
    return 0;
}

static const http_parser_settings response_settings = {
    .on_message_begin = on_response_begin,
    .on_message_complete = on_response_complete,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    signal(SIGPIPE, SIG_IGN); /* as kanald does: a reset client is an error, not a signal */
    return 0;
}

static void answer(struct http_req *req, unsigned how)
{
    char body[64];
    int n = snprintf(body, sizeof body, "{\"len\":%zu,\"hdrs\":%zu}", req->pub.body_len,
                     req->pub.nheaders);
    (void)http_req_header(req, "Content-Type");
    switch (how % 4) {
    case 0:
        http_respond(req, 200, "application/json", body, (size_t)n);
        break;
    case 1: {
        /* The path's printable bytes: http_req_add_header refuses only CR
         * and LF, so other control bytes would make the header invalid. */
        char loc[64];
        size_t k = 0;
        for (const char *c = req->pub.path ? req->pub.path : "/"; *c && k < sizeof loc - 1; c++)
            if (*c > 0x20 && *c < 0x7f)
                loc[k++] = *c;
        loc[k] = '\0';
        http_req_add_header(req, "Location", loc);
        http_respond(req, 302, NULL, NULL, 0);
        break;
    }
    case 2:
        http_respond_error(req, 503, "store_unavailable", "try again");
        break;
    default:
        http_respond(req, 204, "text/plain", NULL, 0);
        break;
    }
}

static void handler(void *arg, struct http_req *req)
{
    struct run *r = arg;
    unsigned how = fuzz_byte(&r->in);
    r->head_seen |= req->head_only;
    if ((how & 0x80) && r->npending < MAX_PENDING) {
        r->pending[r->npending++] = req; /* answered by op 4, or at the end */
        return;
    }
    answer(req, how);
}

static void on_closed(void *arg)
{
    ((struct run *)arg)->closed = 1;
}

static void spin(struct run *r)
{
    for (int i = 0; i < 4; i++)
        uv_run(&r->loop, UV_RUN_NOWAIT);
}

static void drain(struct run *r, int i)
{
    char buf[65536];
    ssize_t n;
    while (r->fd[i] >= 0 && (n = recv(r->fd[i], buf, sizeof buf, MSG_DONTWAIT)) > 0) {
        if (r->head_seen)
            continue;
        size_t done = http_parser_execute(&r->resp[i], &response_settings, buf, (size_t)n);
        if (HTTP_PARSER_ERRNO(&r->resp[i]) != HPE_OK || done != (size_t)n) {
            char shown[1024], *o = shown;
            for (ssize_t k = 0; k < n && o < shown + sizeof shown - 5; k++)
                o += buf[k] >= 0x20 && buf[k] < 0x7f ? sprintf(o, "%c", buf[k])
                                                     : sprintf(o, "\\x%02x", (unsigned char)buf[k]);
            FUZZ_FAIL("client %d read a malformed response: %s: %s", i,
                      http_errno_description(HTTP_PARSER_ERRNO(&r->resp[i])), shown);
        }
    }
}

/* Shut the server down, its connections closed, and free it. */
static void stop_server(struct run *r)
{
    r->closed = 0;
    http_server_shutdown(r->server, on_closed, r);
    for (int i = 0; i < 1000 && !r->closed; i++)
        uv_run(&r->loop, UV_RUN_NOWAIT);
    if (!r->closed) {
        http_server_abort(r->server);
        for (int i = 0; i < 1000 && !r->closed; i++)
            uv_run(&r->loop, UV_RUN_NOWAIT);
    }
    if (!r->closed)
        FUZZ_FAIL("the server did not close its connections");
    http_server_free(r->server);
    r->server = NULL;
}

/* libFuzzer's -timeout runs on SIGALRM, whose handler does not restart
 * system calls: a connect it interrupts returns EINTR while the handshake
 * goes on in the kernel.  Then wait for that handshake, 5 s at most
 * however often poll is interrupted too, and take its outcome from
 * SO_ERROR. */
static int client(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        FUZZ_FAIL("cannot make a socket: %s", strerror(errno));
    int err = connect(fd, (struct sockaddr *)&a, sizeof a) < 0 ? errno : 0;
    if (err == EINTR) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        struct timespec now, end;
        clock_gettime(CLOCK_MONOTONIC, &end);
        end.tv_sec += 5;
        int n;
        do {
            clock_gettime(CLOCK_MONOTONIC, &now);
            long left = (end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1000000;
            n = poll(&p, 1, left > 0 ? (int)left : 0);
        } while (n < 0 && errno == EINTR);
        socklen_t len = sizeof err;
        if (n < 0)
            err = errno;
        else if (n == 0)
            err = ETIMEDOUT;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
    }
    if (err)
        FUZZ_FAIL("cannot connect to the server: %s", strerror(err));
    return fd;
}

static void reset(int *fd)
{
    if (*fd < 0)
        return;
    struct linger l = {1, 0};
    setsockopt(*fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(*fd);
    *fd = -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct run r;
    memset(&r, 0, sizeof r);
    r.in = (struct fuzz_in){data, size};
    unsigned lim = fuzz_byte(&r.in);
    struct http_limits limits = {
        .max_body = (lim & 1) ? 64 : 1 << 20,
        .max_header = (lim & 2) ? 128 : 16384,
        .max_connections = (lim & 4) ? 1 : 64,
        .header_timeout_ms = 60000,
        .request_timeout_ms = 60000,
        .idle_timeout_ms = 60000,
        /* Left at 0, these would refuse every connection (max_per_ip) and
         * read no request (max_pipeline): values above what two clients
         * reach, or the least a configuration may set (config.c refuses 0). */
        .max_per_ip = (lim & 16) ? 1 : 64,
        .max_pipeline = (lim & 32) ? 1 : 32,
        .max_unread = (lim & 64) ? 1 : 1 << 20,
    };
    if (uv_loop_init(&r.loop))
        abort();
    r.server = http_server_new(&r.loop, &limits, handler, &r);
    /* One port for every input (libuv binds with SO_REUSEADDR): the
     * connections the server closes first wait out TIME_WAIT on that port
     * alone, instead of each holding an ephemeral port of its own until the
     * clients' connects run out of them.  Another process may have taken
     * it since the last input: then a new one. */
    static int port;
    int rc = http_server_listen(r.server, "127.0.0.1", port);
    if (rc && port) {
        stop_server(&r);
        r.server = http_server_new(&r.loop, &limits, handler, &r);
        rc = http_server_listen(r.server, "127.0.0.1", port = 0);
    }
    if (rc)
        FUZZ_FAIL("cannot listen on port %d: %s", port, uv_strerror(rc));
    port = http_server_port(r.server);
    r.fd[0] = client(port);
    r.fd[1] = (lim & 8) ? client(port) : -1;
    for (int i = 0; i < 2; i++)
        http_parser_init(&r.resp[i], HTTP_RESPONSE); /* data NULL: no close yet */
    spin(&r);
    int ops = 0;
    while (r.in.n && ops++ < 256) {
        unsigned op = fuzz_byte(&r.in);
        int *fd = &r.fd[op & 1];
        switch (op % 8) {
        case 0:
        case 1:
        case 2:
        case 3: {
            const uint8_t *p;
            unsigned k = op / 8;
            size_t n = fuzz_take(&r.in, k < 16 ? k + 1 : (size_t)1 << (k - 11), &p);
            if (*fd >= 0 && n)
                send(*fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
            break;
        }
        case 4:
            if (r.npending) {
                struct http_req *req = r.pending[0];
                memmove(r.pending, r.pending + 1, --r.npending * sizeof *r.pending);
                answer(req, op >> 3);
            }
            break;
        case 5:
            if (*fd >= 0)
                shutdown(*fd, SHUT_WR);
            break;
        case 6:
            reset(fd);
            break;
        default:
            drain(&r, (int)(op & 1));
            break;
        }
        spin(&r);
    }
    /* The end: the clients go away, the kept requests are answered (after
     * their connection is gone: the answers are dropped), then shutdown. */
    drain(&r, 0);
    drain(&r, 1);
    reset(&r.fd[0]);
    reset(&r.fd[1]);
    spin(&r);
    while (r.npending)
        answer(r.pending[--r.npending], 0);
    spin(&r);
    stop_server(&r);
    if (uv_loop_close(&r.loop))
        FUZZ_FAIL("handles left open on the loop");
    return 0;
}
