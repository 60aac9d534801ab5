/* SPDX-License-Identifier: Apache-2.0 */
/* email: e-mail for kanal, in and out.
 *
 * In: an IMAP mailbox polled through the host's async transfers (libcurl),
 * with the (UIDVALIDITY, UID) cursor committed with the records, and an
 * LMTP listener an MTA delivers to; both parse with GMime and store one
 * record per message (`message`, or `bounce` for delivery status
 * notifications).  Out: libcurl SMTP with a generated Message-ID that
 * becomes the outbound record's external id, so that replies thread.
 *
 * This file: options, lifecycle, brand addresses and health. */
#include "email.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <gmime/gmime.h>

int email_is_brand(const struct email *e, const char *addr)
{
    const char *at = strrchr(addr, '@');
    for (size_t i = 0; i < e->nbrand; i++) {
        const char *b = e->brand[i];
        if (b[0] == '@' ? at && strcmp(at, b) == 0 : strcmp(addr, b) == 0)
            return 1;
    }
    return 0;
}

void email_health(struct email *e, const char *part, const char *reason)
{
    char **slot = strcmp(part, "imap") == 0 ? &e->down_imap : &e->down_smtp;
    if (!reason && !*slot)
        return;
    free(*slot);
    *slot = reason ? strdup(reason) : NULL;
    if (!e->down_imap && !e->down_smtp) {
        e->host->set_health(e->src, 1, NULL);
        return;
    }
    char why[600];
    snprintf(why, sizeof why, "%s%s%s", e->down_imap ? e->down_imap : "",
             e->down_imap && e->down_smtp ? "; " : "", e->down_smtp ? e->down_smtp : "");
    e->host->set_health(e->src, 0, why);
}

void email_curl_tls(const struct email *e, void *easy, const char *url)
{
    /* imaps:// and smtps:// are TLS from the first byte.  The plain schemes
     * must upgrade with STARTTLS, or a network attacker reads the password,
     * unless the operator allows plain text (a server on loopback). */
    if (strncmp(url, "imaps://", 8) == 0 || strncmp(url, "smtps://", 8) == 0)
        return;
    curl_easy_setopt(easy, CURLOPT_USE_SSL,
                     (long)(e->allow_plaintext ? CURLUSESSL_TRY : CURLUSESSL_ALL));
}

/* A password inside imap_url or smtp_url would be logged with the URL and
 * escape the secret handling of *_password. */
static int url_has_password(const char *url)
{
    CURLU *u = curl_url();
    char *pw = NULL;
    int has = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_PASSWORD, &pw, 0) == CURLUE_OK && pw;
    curl_free(pw);
    curl_url_cleanup(u);
    return has;
}

/* "a@x.com, @brand.com  b@y.com" → lower-cased entries. */
static int parse_brand(struct email *e, const char *list)
{
    const char *p = list;
    while (p && *p) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        size_t n = strcspn(p, ", \t");
        if (n == 0)
            break;
        char **nb = realloc(e->brand, (e->nbrand + 1) * sizeof *nb);
        if (!nb)
            return -ENOMEM;
        e->brand = nb;
        char *entry = strndup(p, n);
        if (!entry)
            return -ENOMEM;
        for (char *c = entry; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (*entry == '<' && n > 2 && entry[n - 1] == '>') {
            memmove(entry, entry + 1, n - 2);
            entry[n - 2] = '\0';
        }
        e->brand[e->nbrand++] = entry;
        p += n;
    }
    return 0;
}

/* `from` is "Name <addr>" or a bare address. */
static int parse_from(struct email *e, const char *from)
{
    InternetAddressList *list = internet_address_list_parse(NULL, from);
    int r = -EINVAL;
    if (list && internet_address_list_length(list) == 1) {
        InternetAddress *ia = internet_address_list_get_address(list, 0);
        if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
            const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
            const char *name = internet_address_get_name(ia);
            if (addr && strchr(addr, '@')) {
                e->from_addr = strdup(addr);
                for (char *c = e->from_addr; c && *c; c++)
                    *c = (char)tolower((unsigned char)*c);
                if (name && *name)
                    e->from_name = strdup(name);
                r = e->from_addr ? 0 : -ENOMEM;
            }
        }
    }
    if (list)
        g_object_unref(list);
    return r;
}

static void email_free(struct email *e)
{
    if (e->imap)
        imap_free(e->imap);
    if (e->lmtp)
        lmtp_free(e->lmtp);
    for (size_t i = 0; i < e->nbrand; i++)
        free(e->brand[i]);
    free(e->brand);
    free(e->from_addr);
    free(e->from_name);
    free(e->down_imap);
    free(e->down_smtp);
    free(e);
}

static const struct kanal_kit_bind email_binds[] = {
    {"imap_url", KANAL_KIT_STR, offsetof(struct email, imap_url)},
    {"imap_user", KANAL_KIT_STR, offsetof(struct email, imap_user)},
    {"imap_password", KANAL_KIT_STR, offsetof(struct email, imap_password)},
    {"poll_interval", KANAL_KIT_INT64, offsetof(struct email, poll_interval_ms)},
    {"lmtp_listen", KANAL_KIT_STR, offsetof(struct email, lmtp_listen)},
    {"authserv_id", KANAL_KIT_STR, offsetof(struct email, authserv_id)},
    {"max_message_size", KANAL_KIT_INT64, offsetof(struct email, max_message_size)},
    {"smtp_url", KANAL_KIT_STR, offsetof(struct email, smtp_url)},
    {"smtp_user", KANAL_KIT_STR, offsetof(struct email, smtp_user)},
    {"smtp_password", KANAL_KIT_STR, offsetof(struct email, smtp_password)},
    {"smtp_timeout", KANAL_KIT_INT64, offsetof(struct email, smtp_timeout_ms)},
    {"allow_plaintext", KANAL_KIT_BOOL, offsetof(struct email, allow_plaintext)},
    {"unsubscribe_mailto", KANAL_KIT_STR, offsetof(struct email, unsubscribe_mailto)},
    {"lmtp_max_sessions", KANAL_KIT_INT64, offsetof(struct email, lmtp_max_sessions)},
    {"lmtp_max_recipients", KANAL_KIT_INT64, offsetof(struct email, lmtp_max_recipients)},
    {"lmtp_max_commands", KANAL_KIT_INT64, offsetof(struct email, lmtp_max_commands)},
    {"lmtp_max_command_line", KANAL_KIT_INT64, offsetof(struct email, lmtp_max_command_line)},
    {"lmtp_max_reply_queue", KANAL_KIT_INT64, offsetof(struct email, lmtp_max_reply_queue)},
    {"lmtp_idle_timeout", KANAL_KIT_INT64, offsetof(struct email, lmtp_idle_timeout_ms)},
    {NULL, 0, 0},
};

static int email_init(const struct kanal_host *host, struct kanal_source *src, void **state)
{
    struct email *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    mime_init();
    e->host = host;
    e->src = src;
    int r = kanal_kit_bind_options(host, src, email_binds, e);
    if (r < 0)
        goto fail;
    if (e->poll_interval_ms < 1000)
        e->poll_interval_ms = 1000;

    const char *from = host->config_string(src, "from");
    if (from && (r = parse_from(e, from)) < 0) {
        host->log(src, KANAL_LOG_ERR, "from = '%s': not one e-mail address", from);
        r = KANAL_ECONFIG;
        goto fail;
    }
    if ((r = parse_brand(e, host->config_string(src, "brand_addresses"))) < 0)
        goto fail;
    if (e->from_addr && !email_is_brand(e, e->from_addr) && (r = parse_brand(e, e->from_addr)))
        goto fail;
    if ((e->imap_url && url_has_password(e->imap_url)) ||
        (e->smtp_url && url_has_password(e->smtp_url))) {
        host->log(src, KANAL_LOG_ERR,
                  "a password in imap_url or smtp_url: use imap_password / smtp_password");
        r = KANAL_ECONFIG;
        goto fail;
    }
    if (!e->imap_url && !e->lmtp_listen && !e->smtp_url) {
        host->log(src, KANAL_LOG_ERR, "set imap_url, lmtp_listen or smtp_url: nothing to do");
        r = KANAL_ECONFIG;
        goto fail;
    }
    if (e->lmtp_listen && (r = lmtp_check_limits(e)) < 0)
        goto fail;
    /* It goes into a header inside <mailto:...>: one plain address only. */
    if (e->unsubscribe_mailto && (!strchr(e->unsubscribe_mailto, '@') ||
                                  strpbrk(e->unsubscribe_mailto, " \t\r\n<>,;\"?&%()"))) {
        host->log(src, KANAL_LOG_ERR, "unsubscribe_mailto = '%s': not one plain e-mail address",
                  e->unsubscribe_mailto);
        r = KANAL_ECONFIG;
        goto fail;
    }
    if (e->smtp_url && !e->from_addr) {
        host->log(src, KANAL_LOG_ERR, "smtp_url needs from (the sender address)");
        r = KANAL_ECONFIG;
        goto fail;
    }
    if (e->nbrand == 0)
        host->log(src, KANAL_LOG_NOTICE,
                  "no brand_addresses: every message counts as inbound (set them to tell "
                  "inbound, outbound and peer apart)");
    if (e->imap_url && (r = imap_create(e, &e->imap)) < 0)
        goto fail;
    if (e->lmtp_listen && (r = lmtp_create(e, &e->lmtp)) < 0)
        goto fail;
    *state = e;
    return 0;
fail:
    email_free(e);
    return r;
}

static int email_start(void *state)
{
    struct email *e = state;
    if (e->smtp_url)
        smtp_load_salt(e);
    int r = 0;
    if (e->lmtp && (r = lmtp_start(e->lmtp)) < 0)
        return r;
    if (e->imap && (r = imap_start(e->imap)) < 0) {
        if (e->lmtp)
            lmtp_stop(e->lmtp);
        return r;
    }
    return 0;
}

static int email_stop(void *state)
{
    struct email *e = state;
    if (e->imap)
        imap_stop(e->imap);
    if (e->lmtp)
        lmtp_stop(e->lmtp);
    return 0;
}

static void email_destroy(void *state)
{
    email_free(state);
}

static const struct kanal_option email_options[] = {
    {"imap_url", KANAL_OPT_URL, NULL, 0, "mailbox to poll, e.g. imaps://mail.example.com/INBOX",
     NULL},
    {"imap_user", KANAL_OPT_STRING, NULL, 0, "IMAP login", NULL},
    {"imap_password", KANAL_OPT_SECRET, NULL, 0, "IMAP password", NULL},
    {"poll_interval", KANAL_OPT_DURATION, "60s", 0, "time between two polls of the mailbox", NULL},
    {"lmtp_listen", KANAL_OPT_STRING, NULL, 0,
     "LMTP listener for an MTA: 127.0.0.1:PORT or unix:/run/kanal/lmtp.sock", NULL},
    {"max_message_size", KANAL_OPT_SIZE, "25M", 0,
     "largest message accepted over LMTP (larger ones are refused with 552)", NULL},
    {"smtp_url", KANAL_OPT_URL, NULL, 0, "SMTP server for sending, e.g. smtps://mail.example.com",
     NULL},
    {"smtp_user", KANAL_OPT_STRING, NULL, 0, "SMTP login (none: no authentication)", NULL},
    {"smtp_password", KANAL_OPT_SECRET, NULL, 0, "SMTP password", NULL},
    {"smtp_timeout", KANAL_OPT_DURATION, "60s", 0, "time allowed for one SMTP send", NULL},
    {"from", KANAL_OPT_STRING, NULL, 0, "sender of outbound mail: \"Name <addr>\" or addr", NULL},
    {"brand_addresses", KANAL_OPT_STRING, NULL, 0,
     "the brand's addresses and @domains, comma-separated (from is one of them)", NULL},
    {"allow_plaintext", KANAL_OPT_BOOL, "no", 0,
     "allow imap:// and smtp:// without STARTTLS (servers on loopback only)", NULL},
    {"lmtp_max_sessions", KANAL_OPT_INT, "64", 0,
     "LMTP connections at once; more are answered 421 and closed", NULL},
    {"lmtp_max_recipients", KANAL_OPT_INT, "100", 0,
     "recipients of one LMTP message; more are refused with 452", NULL},
    {"lmtp_max_commands", KANAL_OPT_INT, "1000", 0,
     "LMTP commands a session may send between two messages; then 421 and closed", NULL},
    {"lmtp_max_command_line", KANAL_OPT_SIZE, "4K", 0,
     "longest LMTP command line; a longer one is answered 500 and the session closed", NULL},
    {"lmtp_max_reply_queue", KANAL_OPT_SIZE, "64K", 0,
     "LMTP replies queued for a client that does not read them; above it no command is read", NULL},
    {"lmtp_idle_timeout", KANAL_OPT_DURATION, "5m", 0,
     "an LMTP session that sends nothing and reads nothing this long is closed", NULL},
    {"unsubscribe_mailto", KANAL_OPT_STRING, NULL, 0,
     "address for the mailto of List-Unsubscribe in campaign mail (none: URL only)", NULL},
    {"authserv_id", KANAL_OPT_STRING, NULL, 0,
     "the receiving MTA's authserv-id: its Authentication-Results dmarc=pass verifies the From",
     NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static const struct kanal_plugin email_plugin = {
    KANAL_PLUGIN_HEADER,
    .name = "email",
    .version = "1.0.0",
    .description = "e-mail: IMAP polling and LMTP in, SMTP out, threading and bounces",
    .options = email_options,
    .init = email_init,
    .start = email_start,
    .stop = email_stop,
    .destroy = email_destroy,
    .send = email_send,
};

KANAL_PLUGIN_EXPORT const struct kanal_plugin *kanal_plugin_entry(void)
{
    return &email_plugin;
}
