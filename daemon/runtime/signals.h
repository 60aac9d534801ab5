/* SIGTERM/SIGINT stop, SIGHUP reloads (signals.c). */
#ifndef KANAL_SIGNALS_H
#define KANAL_SIGNALS_H

struct daemon;

/* What a signal makes kanald do: main.c's reload (SIGHUP) and shutdown. */
int signals_setup(struct daemon *d, int (*reload)(struct daemon *d),
                  void (*shutdown)(struct daemon *d));
void signals_close(struct daemon *d);

#endif
