/* SIGTERM/SIGINT stop, SIGHUP reloads; handled on the loop, not in a
 * signal handler, so the work they start may do anything. */
#include <signal.h>

#include "signals.h"

#include "daemon.h"
#include "log.h"

/* Signals are the process's, and a process runs one daemon: where they lead
 * is kept here, set once by signals_setup. */
static int (*do_reload)(struct daemon *d);
static void (*do_shutdown)(struct daemon *d);

static void on_signal(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;
    if (signum == SIGHUP) {
        log_notice("SIGHUP: reloading %s", d->config_path);
        do_reload(d);
        return;
    }
    if (d->stopping) {
        log_notice("%s again: already stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
        return;
    }
    log_notice("%s: stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
    do_shutdown(d);
}

int signals_setup(struct daemon *d, int (*reload)(struct daemon *d),
                  void (*shutdown)(struct daemon *d))
{
    do_reload = reload;
    do_shutdown = shutdown;
    signal(SIGPIPE, SIG_IGN);
    struct {
        uv_signal_t *h;
        int sig;
    } sigs[] = {{&d->sig_term, SIGTERM}, {&d->sig_int, SIGINT}, {&d->sig_hup, SIGHUP}};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        uv_signal_init(d->loop, sigs[i].h);
        sigs[i].h->data = d;
        int rc = uv_signal_start(sigs[i].h, on_signal, sigs[i].sig);
        if (rc)
            return rc;
    }
    return 0;
}

void signals_close(struct daemon *d)
{
    uv_close((uv_handle_t *)&d->sig_term, NULL);
    uv_close((uv_handle_t *)&d->sig_int, NULL);
    uv_close((uv_handle_t *)&d->sig_hup, NULL);
}
