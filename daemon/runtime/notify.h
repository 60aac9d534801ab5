/* systemd's sd_notify (notify.c), no-ops outside systemd. */
#ifndef KANAL_NOTIFY_H
#define KANAL_NOTIFY_H

struct daemon;

void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void notify_watchdog_setup(struct daemon *d);

#endif
