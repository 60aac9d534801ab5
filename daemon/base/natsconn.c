/* SPDX-License-Identifier: Apache-2.0 */
/* kanald's own NATS connections (natsconn.h). */
#include "natsconn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "nkey.h"
#include "util.h"

/* Signed by kanal, not by libnats' nats_Sign, which fails while libnats
 * initialises (nkey.h). */
static natsStatus sign_nonce(char **err, unsigned char **sig, int *sig_len, const char *nonce,
                             void *arg)
{
    /* A server that has no NKey users sends no nonce (and refuses the
     * connection, for an operator to fix): sign an empty one. */
    if (!nonce)
        nonce = "";
    int rc = kanal_nkey_sign(arg, (const unsigned char *)nonce, strlen(nonce), sig, sig_len);
    if (rc == 0)
        return NATS_OK;
    if (err)
        *err = strdup(rc == -EINVAL ? "the nkey is not a NATS user seed (SU...)"
                                    : "cannot sign with the nkey");
    return NATS_ERR;
}

int natsconn_options(const char *servers, const struct natsconn_auth *a, const char *prefix,
                     natsOptions **out, char *why, size_t why_len)
{
    natsOptions *opts = NULL;
    char *list = xstrdup(servers);
    const char *urls[32];
    int nu = 0;
    for (char *save = NULL, *t = strtok_r(list, ", \t", &save); t && nu < 32;
         t = strtok_r(NULL, ", \t", &save))
        urls[nu++] = t;
    const char *what = "servers";
    natsStatus st = natsOptions_Create(&opts);
    if (st == NATS_OK)
        st = natsOptions_SetServers(opts, urls, nu);
    /* Once connected, libnats reconnects by itself for as long as it takes. */
    if (st == NATS_OK)
        st = natsOptions_SetMaxReconnect(opts, -1);
    if (st == NATS_OK && a->user) {
        what = "user";
        st = natsOptions_SetUserInfo(opts, a->user, a->password);
    }
    if (st == NATS_OK && a->creds) {
        what = "creds";
        st = natsOptions_SetUserCredentialsFromFiles(opts, a->creds, NULL);
    }
    if (st == NATS_OK && a->nkey) {
        what = "nkey";
        st = natsOptions_SetNKey(opts, a->nkey_public, sign_nonce, (void *)a->nkey);
    }
    if (st == NATS_OK && a->tls_ca) {
        what = "tls_ca";
        st = natsOptions_LoadCATrustedCertificates(opts, a->tls_ca);
    }
    free(list);
    if (st != NATS_OK) {
        snprintf(why, why_len, "%s_%s: %s", prefix, what, natsStatus_GetText(st));
        natsOptions_Destroy(opts);
        return -EINVAL;
    }
    *out = opts;
    return 0;
}

int natsconn_connect(natsOptions *opts, const char *who, const char *key, const char *servers,
                     int retry_ms, int (*stopping)(void *), void *arg, natsConnection **nc,
                     jsCtx **js)
{
    char last[300] = "";
    while (!stopping(arg)) {
        natsConnection *c = NULL;
        jsCtx *j = NULL;
        natsStatus st = natsConnection_Connect(&c, opts);
        if (st == NATS_OK)
            st = natsConnection_JetStream(&j, c, NULL);
        if (st == NATS_OK) {
            /* Also the first time: until this line, a state change or a
             * cluster message is answered 503 (the operator's sign that
             * the node is ready). */
            log_notice("%s: connected to %s = %s", who, key, servers);
            *nc = c;
            *js = j;
            return 0;
        }
        const char *detail = nats_GetLastError(NULL);
        char now[300];
        snprintf(now, sizeof now, "%s%s%s", natsStatus_GetText(st),
                 detail && *detail ? ": " : "", detail ? detail : "");
        if (strcmp(now, last))
            log_err("%s: cannot connect to %s = %s: %s; trying again every %d s", who, key,
                    servers, now, retry_ms / 1000);
        snprintf(last, sizeof last, "%s", now);
        natsConnection_Destroy(c);
        for (int waited = 0; waited < retry_ms && !stopping(arg); waited += 100)
            usleep(100 * 1000);
    }
    return -1;
}

int natsconn_closed(natsConnection *nc, const char *who, const char *key, const char *servers)
{
    if (!nc || natsConnection_Status(nc) != NATS_CONN_STATUS_CLOSED)
        return 0;
    const char *detail = NULL, *at;
    natsStatus st = natsConnection_GetLastError(nc, &detail);
    if (detail && *detail == '(' && (at = strstr(detail, "): ")))
        detail = at + 3; /* libnats' "(conn.c:1905): " */
    log_err("%s: the connection to %s = %s was closed: %s%s%s; connecting again", who, key,
            servers, natsStatus_GetText(st), detail && *detail ? ": " : "",
            detail ? detail : "");
    return 1;
}
