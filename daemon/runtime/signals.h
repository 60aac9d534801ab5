/* SPDX-License-Identifier: Apache-2.0 */
/* SIGTERM/SIGINT stop, SIGHUP reloads (signals.c). */
#ifndef KANAL_SIGNALS_H
#define KANAL_SIGNALS_H

#include <uv.h>

/* The signals' handles and what they make kanald do: main.c fills in its
 * reload (SIGHUP) and shutdown, called with arg, before signals_setup. */
struct signals {
    uv_signal_t term, intr, hup;
    const char *config_path; /* named in the SIGHUP log line */
    const int *stopping;     /* set: a second SIGTERM/SIGINT is only logged */
    int (*reload)(void *arg);
    void (*shutdown)(void *arg);
    void *arg;
};

int signals_setup(struct signals *s, uv_loop_t *loop);
void signals_close(struct signals *s);

#endif
