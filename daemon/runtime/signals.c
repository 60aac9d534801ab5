/* SPDX-License-Identifier: Apache-2.0 */
/* SIGTERM/SIGINT stop, SIGHUP reloads; handled on the loop, not in a
 * signal handler, so the work they start may do anything. */
#include <signal.h>

#include "signals.h"

#include "log.h"

static void on_signal(uv_signal_t *h, int signum)
{
    struct signals *s = h->data;
    if (signum == SIGHUP) {
        log_notice("SIGHUP: reloading %s", s->config_path);
        s->reload(s->arg);
        return;
    }
    if (*s->stopping) {
        log_notice("%s again: already stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
        return;
    }
    log_notice("%s: stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
    s->shutdown(s->arg);
}

int signals_setup(struct signals *s, uv_loop_t *loop)
{
    signal(SIGPIPE, SIG_IGN);
    struct {
        uv_signal_t *h;
        int sig;
    } sigs[] = {{&s->term, SIGTERM}, {&s->intr, SIGINT}, {&s->hup, SIGHUP}};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        uv_signal_init(loop, sigs[i].h);
        sigs[i].h->data = s;
        int rc = uv_signal_start(sigs[i].h, on_signal, sigs[i].sig);
        if (rc)
            return rc;
    }
    return 0;
}

void signals_close(struct signals *s)
{
    uv_close((uv_handle_t *)&s->term, NULL);
    uv_close((uv_handle_t *)&s->intr, NULL);
    uv_close((uv_handle_t *)&s->hup, NULL);
}
