/* SPDX-License-Identifier: Apache-2.0 */
/* systemd's sd_notify (notify.c), no-ops outside systemd. */
#ifndef KANAL_NOTIFY_H
#define KANAL_NOTIFY_H

#include <stdint.h>

#include <uv.h>

void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Init timer on loop; under a systemd watchdog, ping from it every half
 * interval and put the interval in *usec. */
void notify_watchdog_setup(uv_loop_t *loop, uv_timer_t *timer, uint64_t *usec);

#endif
