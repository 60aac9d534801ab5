/* SPDX-License-Identifier: Apache-2.0 */
/* systemd notifications (Type=notify): READY, RELOADING, STOPPING, STATUS
 * and the watchdog.  Outside systemd, sd_notify() does nothing. */
#include "notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "log.h"

void notify_ready(void)
{
    sd_notify(0, "READY=1\nSTATUS=serving");
}

void notify_reloading(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sd_notifyf(0, "RELOADING=1\nSTATUS=reloading configuration\nMONOTONIC_USEC=%llu",
               (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
}

void notify_stopping(void)
{
    sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

void notify_status(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sd_notifyf(0, "STATUS=%s", msg);
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    /* The loop got here, so it is not stuck: tell systemd. */
    sd_notify(0, "WATCHDOG=1");
}

void notify_watchdog_setup(uv_loop_t *loop, uv_timer_t *timer, uint64_t *watchdog_usec)
{
    uint64_t usec = 0;
    uv_timer_init(loop, timer);
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        *watchdog_usec = usec;
        uint64_t every = usec / 2000; /* half the interval, in ms */
        uv_timer_start(timer, on_watchdog, every ? every : 1, every ? every : 1);
        log_info("systemd watchdog enabled: pinging every %llu ms", (unsigned long long)every);
    }
}
