/* SPDX-License-Identifier: Apache-2.0 */
/* email: IMAP polling, an LMTP listener and SMTP sends for kanal.  Shared
 * between the plugin's files; nothing here is visible outside the .so.
 *
 *   email.c   options, lifecycle, brand addresses, health
 *   imap.c    polling a mailbox through the host's async transfers
 *   lmtp.c    the LMTP listener (RFC 2033) on the host's fd watches
 *   lmtp_listen.c  its socket, the warning when it is not loopback, limits
 *   mime.c    GMime: a raw message into struct mail
 *   html.c    text/html reduced to text
 *   ingest.c  struct mail into records, dedup, the batch an emit commits
 *   smtp.c    outbound messages through libcurl SMTP
 */
#ifndef KANAL_EMAIL_H
#define KANAL_EMAIL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <kanal/kit.h>
#include <kanal/plugin.h>

struct imap;
struct lmtp;
struct pending_mid;

struct email {
    const struct kanal_host *host;
    struct kanal_source *src;
    /* Options. */
    const char *imap_url, *imap_user, *imap_password;
    int64_t poll_interval_ms;
    const char *lmtp_listen;
    int64_t max_message_size;
    const char *smtp_url, *smtp_user, *smtp_password;
    int64_t smtp_timeout_ms;
    char *from_addr; /* lower-cased address of `from`, or NULL */
    char *from_name; /* its display name, or NULL */
    char **brand;    /* lower-cased addresses and "@domain" entries */
    size_t nbrand;
    int allow_plaintext;
    /* Limits of the LMTP listener, which has no authentication. */
    int64_t lmtp_max_sessions, lmtp_max_recipients, lmtp_max_commands;
    int64_t lmtp_max_command_line, lmtp_max_reply_queue, lmtp_idle_timeout_ms;
    const char *unsubscribe_mailto; /* address for List-Unsubscribe's mailto, or NULL */
    const char *authserv_id;        /* the receiving MTA's (RFC 8601), or NULL */
    /* Parts. */
    struct imap *imap;
    struct lmtp *lmtp;
    struct pending_mid *pending; /* Message-IDs queued but not yet committed */
    char salt[33];               /* for Message-IDs of outbound mail */
    char *down_imap, *down_smtp; /* why a part is unhealthy, or NULL */
};

/* ---- email.c ---- */

/* 1 when addr (lower-cased) is one of the brand's addresses or domains. */
int email_is_brand(const struct email *e, const char *addr);
/* Report one part's health ("imap", "smtp"); the source is healthy when
 * every part is.  reason NULL means healthy. */
void email_health(struct email *e, const char *part, const char *reason);
/* Require TLS on imap:// and smtp:// URLs unless allow_plaintext is set. */
void email_curl_tls(const struct email *e, void *easy, const char *url);

/* ---- mime.c ---- */

struct mail_addr {
    char *name; /* decoded display name, or NULL */
    char *addr; /* lower-cased address */
};

struct dsn_recipient {
    char *addr, *action, *status, *diagnostic;
};

struct mail {
    char *message_id;  /* without <>, or NULL */
    char *in_reply_to; /* first Message-ID of In-Reply-To, or NULL */
    char **refs;       /* References, oldest first */
    size_t nrefs;
    struct mail_addr from; /* addr NULL when the message has no usable From */
    struct mail_addr *to, *cc;
    size_t nto, ncc;
    char *subject;
    char *text; /* UTF-8, LF line ends; NULL when there is none */
    int text_from_html;
    json_t *attachments;  /* [{type, name, mime, size}] */
    int64_t date_ms;      /* 0 when absent or implausible */
    char *auto_submitted; /* Auto-Submitted (not "no") or the like, or NULL */
    char *precedence;     /* bulk, list, junk, auto_reply; or NULL */
    /* A delivery status notification (multipart/report; delivery-status). */
    int is_dsn;
    char *dsn_original_id;
    struct dsn_recipient *dsn;
    size_t ndsn;
    /* Raw header values that identify a message without a Message-ID. */
    char *raw_from, *raw_to, *raw_date, *raw_subject;
    /* The top-most Authentication-Results header: the receiving MTA's, when
     * it prepends its own (ingest.c trusts it only with its authserv-id). */
    char *auth_results;
};

/* GMime's setup, once per process however often it is called (mime.c says
 * why); it is shut down when the plugin is unloaded. */
void mime_init(void);
/* Parse a raw RFC 5322 message.  0, or -EINVAL when it is not a message. */
int mail_parse(const char *raw, size_t len, struct mail *out);
void mail_free(struct mail *m);

/* ---- html.c ---- */

/* Text of an HTML document: tags dropped, blocks on their own lines,
 * entities decoded, white space collapsed.  Malloc'ed; NULL on ENOMEM. */
char *html_to_text(const char *html, size_t len);

/* ---- ingest.c ---- */

/* Where a message came from, for meta. */
struct mail_origin {
    const char *via;           /* "imap" or "lmtp" */
    uint32_t uidvalidity, uid; /* imap */
    const char *envelope_from; /* lmtp MAIL FROM, "" for the null sender */
    char *const *envelope_to;  /* lmtp RCPT TO */
    size_t nenvelope_to;
};

/* Records and state entries committed by one emit. */
struct mail_batch {
    json_t *records;
    struct kanal_state_entry *states;
    size_t nstates, cap;
    size_t nmessages;
};

void batch_init(struct mail_batch *b);
/* Add one message: its record (message or bounce) and its dedup entry. */
int batch_add_message(struct email *e, struct mail_batch *b, const char *raw, size_t len,
                      const struct mail_origin *o, int truncated);
/* Add one message as kind "unknown", with the raw message. */
int batch_add_unknown(struct email *e, struct mail_batch *b, const char *raw, size_t len,
                      const struct mail_origin *o, const char *why);
/* Add (or replace) a state entry; the value is copied. */
int batch_set_state(struct mail_batch *b, const char *key, const void *value, size_t len);
/* Emit everything in one transaction, with kanal_kit_emit_then: fb (or
 * NULL) is kept instead when kanald refuses the records, done as its. */
int batch_emit(struct email *e, struct mail_batch *b, const struct kanal_kit_fallback *fb,
               kanal_kit_done_cb done, void *arg);
/* The record text of one message kept as kind "unknown" (an array of one,
 * as batch_add_unknown adds it): 0 with *out malloc'ed, or -ENOMEM. */
int mail_unknown_json(struct email *e, const char *raw, size_t len, const struct mail_origin *o,
                      const char *why, char **out);
/* Free the batch; its Message-IDs stop counting as pending. */
void batch_free(struct email *e, struct mail_batch *b);

/* The thread root of a Message-ID kanal stored: 0 with *root malloc'ed, or
 * -ENOENT. */
int mail_thread_of(struct email *e, const char *message_id, char **root);

/* Replace bytes that are not UTF-8 with U+FFFD; malloc'ed. */
char *utf8_clean(const char *s, size_t len);

/* ---- imap.c ---- */

int imap_create(struct email *e, struct imap **out);
int imap_start(struct imap *im);
void imap_stop(struct imap *im);
void imap_free(struct imap *im);

/* ---- lmtp.c, lmtp_listen.c ---- */

/* Check the lmtp_* limits; KANAL_ECONFIG (logged) when one cannot work. */
int lmtp_check_limits(struct email *e);
/* How often to look for idle sessions: often enough to close them near
 * lmtp_idle_timeout, at most every 10 s. */
int64_t lmtp_sweep_ms(const struct email *e);
/* Listen on lmtp_listen (HOST:PORT or unix:/path): 0 with *fd (and
 * *unix_path malloc'ed for a unix socket), or an error, logged. */
int lmtp_listen(struct email *e, const char *spec, int *fd, char **unix_path);
int lmtp_create(struct email *e, struct lmtp **out);
int lmtp_start(struct lmtp *l);
void lmtp_stop(struct lmtp *l);
void lmtp_free(struct lmtp *l);

/* ---- smtp.c ---- */

int email_send(void *state, const struct kanal_send_request *msg);
/* Load or create the salt of generated Message-IDs. */
void smtp_load_salt(struct email *e);

#endif
