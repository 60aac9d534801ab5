/* SPDX-License-Identifier: Apache-2.0 */
/* libcurl's multi interface on libuv: curl tells us which sockets to watch
 * (socket callback → uv_poll) and when to call it back (timer callback →
 * uv_timer); we tell curl what happened with curl_multi_socket_action().
 * Every plugin's HTTPS, IMAP and SMTP traffic runs here, concurrently, and
 * nothing blocks the loop: DNS resolution uses curl's threaded resolver. */
#include "transfer.h"

#include <errno.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "log.h"
#include "util.h"

struct transfer_engine {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    struct transfer *active;
    unsigned running;
    int closing;
    transfer_hold_fn ref, unref;
};

struct transfer {
    struct transfer_engine *te;
    struct transfer *prev, *next;
    CURL *easy;
    struct kanal_source *src;
    kanal_transfer_cb cb;
    void *arg;
};

struct sock_watch {
    uv_poll_t poll;
    struct transfer_engine *te;
    curl_socket_t fd;
};

static void unlink_transfer(struct transfer *t)
{
    struct transfer_engine *te = t->te;
    if (t->prev)
        t->prev->next = t->next;
    else
        te->active = t->next;
    if (t->next)
        t->next->prev = t->prev;
    te->running--;
}

static void finish(struct transfer *t, int result)
{
    unlink_transfer(t);
    curl_multi_remove_handle(t->te->multi, t->easy);
    t->cb(t->arg, result, t->easy);
    if (t->src)
        t->te->unref(t->src);
    free(t);
}

static void check_done(struct transfer_engine *te)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(te->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct transfer *t = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        if (t)
            finish(t, msg->data.result);
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct sock_watch *w = p->data;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    struct transfer_engine *te = w->te;
    curl_multi_socket_action(te->multi, w->fd, flags, &running);
    check_done(te);
}

static void watch_closed(uv_handle_t *h)
{
    free(h->data);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    struct transfer_engine *te = userp;
    struct sock_watch *w = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            uv_poll_stop(&w->poll);
            uv_close((uv_handle_t *)&w->poll, watch_closed);
            curl_multi_assign(te->multi, fd, NULL);
        }
        return 0;
    }
    if (!w) {
        w = xcalloc(1, sizeof *w);
        w->te = te;
        w->fd = fd;
        if (uv_poll_init_socket(te->loop, &w->poll, fd) < 0) {
            free(w);
            return -1;
        }
        w->poll.data = w;
        curl_multi_assign(te->multi, fd, w);
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    uv_poll_start(&w->poll, events, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *timer)
{
    struct transfer_engine *te = timer->data;
    int running;
    curl_multi_socket_action(te->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(te);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct transfer_engine *te = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&te->timer);
    else
        uv_timer_start(&te->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

struct transfer_engine *transfer_engine_new(uv_loop_t *loop, transfer_hold_fn ref,
                                            transfer_hold_fn unref)
{
    static int global_done;
    if (!global_done) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        global_done = 1;
    }
    struct transfer_engine *te = xcalloc(1, sizeof *te);
    te->loop = loop;
    te->ref = ref;
    te->unref = unref;
    te->multi = curl_multi_init();
    if (!te->multi) {
        free(te);
        return NULL;
    }
    uv_timer_init(loop, &te->timer);
    te->timer.data = te;
    curl_multi_setopt(te->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(te->multi, CURLMOPT_SOCKETDATA, te);
    curl_multi_setopt(te->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(te->multi, CURLMOPT_TIMERDATA, te);
    return te;
}

int transfer_start(struct transfer_engine *te, struct kanal_source *src, const char *name,
                   void *easy, kanal_transfer_cb cb, void *arg)
{
    if (!te || te->closing)
        return KANAL_ESTOPPED;
    if (!easy || !cb)
        return -EINVAL;
    struct transfer *t = xcalloc(1, sizeof *t);
    *t = (struct transfer){.te = te, .easy = easy, .src = src, .cb = cb, .arg = arg};
    /* Signals would interrupt the loop thread; the threaded resolver keeps
     * DNS off it. */
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, t);
    CURLMcode mc = curl_multi_add_handle(te->multi, easy);
    if (mc != CURLM_OK) {
        log_msg(KANAL_LOG_ERR, name, "cannot start transfer: %s", curl_multi_strerror(mc));
        free(t);
        return -EIO;
    }
    t->next = te->active;
    if (te->active)
        te->active->prev = t;
    te->active = t;
    te->running++;
    if (src)
        te->ref(src);
    return 0;
}

void transfer_abort_all(struct transfer_engine *te)
{
    while (te && te->active)
        finish(te->active, CURLE_ABORTED_BY_CALLBACK);
}

static void engine_closed(uv_handle_t *h)
{
    free(h->data);
}

void transfer_engine_close(struct transfer_engine *te)
{
    if (!te)
        return;
    te->closing = 1;
    transfer_abort_all(te);
    curl_multi_cleanup(te->multi);
    uv_timer_stop(&te->timer);
    uv_close((uv_handle_t *)&te->timer, engine_closed);
}

unsigned transfer_running(const struct transfer_engine *te)
{
    return te ? te->running : 0;
}
