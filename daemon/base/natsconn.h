/* SPDX-License-Identifier: Apache-2.0 */
/* kanald's own connections to NATS (the cluster's outbox, a core's state
 * commands; the nats plugin has its own): the options from the [kanald]
 * keys, and a connect that is retried off the loop until it works. */
#ifndef KANAL_NATSCONN_H
#define KANAL_NATSCONN_H

#include <stddef.h>

#include <nats/nats.h>

/* At most one of creds, nkey + nkey_public, user + password (config_secrets.c
 * checks it); tls_ca verifies tls:// servers.  NULL when not used. */
struct natsconn_auth {
    const char *creds, *nkey, *nkey_public, *user, *password, *tls_ca;
};

/* The options to connect to servers (comma-separated URLs) with a: 0, or
 * -EINVAL with why (the key that failed and libnats' reason).  libnats
 * signs the server's nonce with a->nkey when it connects: that string must
 * outlive every connection made with the options. */
int natsconn_options(const char *servers, const struct natsconn_auth *a, const char *prefix,
                     natsOptions **out, char *why, size_t why_len);

/* Connect with opts and make a JetStream context, again every retry_ms
 * until it works or stopping(arg) says so (checked every 100 ms): 0 with
 * *nc and *js, or -1 when stopping.  Blocking: call it off the loop.  Each
 * new reason is logged once: "<who>: cannot connect to <key> = <servers>:
 * <reason>". */
int natsconn_connect(natsOptions *opts, const char *who, const char *key, const char *servers,
                     int retry_ms, int (*stopping)(void *), void *arg, natsConnection **nc,
                     jsCtx **js);

/* libnats closes a connection for good when a server refuses it twice
 * while reconnecting (a password, user or NKey it lost, a certificate):
 * 1 when nc is such a connection, with a line saying why ("<who>: the
 * connection to <key> = <servers> was closed: <reason>; connecting
 * again"); the caller destroys it and connects again (natsconn_connect). */
int natsconn_closed(natsConnection *nc, const char *who, const char *key, const char *servers);

#endif
