/* SPDX-License-Identifier: Apache-2.0 */
/* Outbound mail through libcurl SMTP on the host's async transfers.
 *
 * Each message is an RFC 5322 message built with GMime: From (`from`), To,
 * a UTF-8 Subject (encoded words when it is not ASCII), Date, a generated
 * Message-ID, and, when it answers a message, In-Reply-To and References
 * (the thread's root, if kanal stored it, then the parent).  The body is
 * text/plain; charset=utf-8, quoted-printable.  The Message-ID (without the
 * angle brackets) is the outbound record's external id, so a reply's
 * In-Reply-To names it.  It is derived from the message's idempotency key
 * and a per-store random salt: a retried send keeps its Message-ID, so the
 * recipient's mail program can recognise the repeat.
 *
 * The subject is the template's {"subject": ...} (kanal keeps no subjects of
 * its own: the CRM that answers has the record it answers).
 *
 *   accepted                                   -> sent
 *   4xx from the server, network error, timeout -> retry with backoff
 *   5xx from the server                         -> failed with the server's answer */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <curl/curl.h>
#include <gmime/gmime.h>

#include "email.h"

struct outgoing {
    struct email *e;
    const struct kanal_send_request *msg;
    CURL *easy;
    struct curl_slist *rcpt;
    char errbuf[CURL_ERROR_SIZE];
    char *data;
    size_t len, off;
    char *to, *message_id, *thread, *subject;
    json_t *refs;
};

static void outgoing_free(struct outgoing *o)
{
    if (o->easy)
        curl_easy_cleanup(o->easy);
    curl_slist_free_all(o->rcpt);
    g_free(o->data);
    free(o->to);
    free(o->message_id);
    free(o->thread);
    free(o->subject);
    json_decref(o->refs);
    free(o);
}

void smtp_load_salt(struct email *e)
{
    size_t len = sizeof e->salt - 1;
    if (e->host->state_get(e->src, "smtp/salt", e->salt, &len) == 0 && len == 32) {
        e->salt[32] = '\0';
        return;
    }
    unsigned char rnd[16];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        /* No randomness: the source name alone still gives stable ids. */
        memset(rnd, 0, sizeof rnd);
    }
    e->host->hex_encode(rnd, sizeof rnd, e->salt);
    struct kanal_state_entry st = {.key = "smtp/salt", .value = e->salt, .len = 32};
    if (e->host->emit(e->src, NULL, 0, &st, 1, NULL, NULL) < 0)
        e->host->log(e->src, KANAL_LOG_WARNING, "smtp: cannot store the Message-ID salt");
}

static int finish(struct email *e, const struct kanal_send_request *msg,
                  enum kanal_send_outcome outcome, const char *reason)
{
    struct kanal_send_result res = {.outcome = outcome, .retry_after_ms = -1, .reason = reason};
    return e->host->send_done(e->src, msg, &res);
}

/* An address fit for RCPT TO: one '@', no white space, no brackets. */
static char *recipient(const char *to)
{
    if (strncmp(to, "email:", 6) == 0)
        to += 6;
    while (*to == ' ')
        to++;
    size_t n = strlen(to);
    while (n > 0 && to[n - 1] == ' ')
        n--;
    const char *at = memchr(to, '@', n);
    if (!at || at == to || at == to + n - 1 || memchr(at + 1, '@', n - (size_t)(at - to) - 1))
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)to[i] <= ' ' || strchr("<>,;\"()\\", to[i]))
            return NULL;
    return strndup(to, n);
}

/* A Message-ID given as reply_to, without brackets; NULL when it is not one. */
static char *clean_id(const char *id)
{
    if (!id)
        return NULL;
    if (*id == '<')
        id++;
    size_t n = strcspn(id, ">");
    if (n == 0 || n > 900 || !memchr(id, '@', n))
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] <= ' ' || (unsigned char)id[i] >= 0x7f)
            return NULL;
    return strndup(id, n);
}

static void make_message_id(struct outgoing *o)
{
    struct email *e = o->e;
    const char *src = e->host->source_name(e->src);
    char *seed = NULL;
    if (asprintf(&seed, "%s\n%s", src, o->msg->idempotency_key) < 0)
        return;
    unsigned char mac[32];
    char hex[65];
    e->host->hmac_sha256(e->salt, strlen(e->salt), seed, strlen(seed), mac);
    e->host->hex_encode(mac, sizeof mac, hex);
    free(seed);
    hex[32] = '\0';
    const char *domain = strrchr(e->from_addr, '@') + 1;
    if (asprintf(&o->message_id, "kanal.%s@%s", hex, domain) < 0)
        o->message_id = NULL;
}

/* Subject and threading headers from the template and the message answered. */
static void plan(struct outgoing *o, char **in_reply_to)
{
    struct email *e = o->e;
    json_t *t = o->msg->template_json ? json_loads(o->msg->template_json, 0, NULL) : NULL;
    const char *subject = json_string_value(json_object_get(t, "subject"));
    if (subject)
        o->subject = strdup(subject);
    json_decref(t);
    o->refs = json_array();
    *in_reply_to = clean_id(o->msg->reply_to);
    if (!*in_reply_to) {
        o->thread = strdup(o->message_id);
        return;
    }
    char *stored_root = NULL;
    mail_thread_of(e, *in_reply_to, &stored_root);
    char *root = clean_id(stored_root);
    free(stored_root);
    if (root && strcmp(root, *in_reply_to) != 0)
        json_array_append_new(o->refs, json_string(root));
    json_array_append_new(o->refs, json_string(*in_reply_to));
    o->thread = strdup(root ? root : *in_reply_to);
    free(root);
}

/* Campaign mail names how to leave it (RFC 2369) and that one POST does it
 * (RFC 8058), so mailbox providers show an unsubscribe button.  The URL is
 * the host's, from ABI 1.1 on; without it nothing is added. */
static void list_unsubscribe(struct outgoing *o, GMimeMessage *m)
{
    struct email *e = o->e;
    const char *url = e->host->abi_minor >= 1 ? o->msg->unsubscribe_url : NULL;
    if (!o->msg->campaign || !url || strpbrk(url, "<>\r\n, "))
        return;
    char *v = NULL;
    int n = e->unsubscribe_mailto
                ? asprintf(&v, "<%s>, <mailto:%s?subject=unsubscribe>", url, e->unsubscribe_mailto)
                : asprintf(&v, "<%s>", url);
    if (n < 0)
        return;
    g_mime_object_set_header(GMIME_OBJECT(m), "List-Unsubscribe", v, NULL);
    g_mime_object_set_header(GMIME_OBJECT(m), "List-Unsubscribe-Post", "List-Unsubscribe=One-Click",
                             NULL);
    free(v);
}

/* The RFC 5322 message, CRLF line ends. */
static char *compose(struct outgoing *o, const char *in_reply_to)
{
    struct email *e = o->e;
    GMimeMessage *m = g_mime_message_new(TRUE);
    InternetAddress *from = internet_address_mailbox_new(e->from_name, e->from_addr);
    internet_address_set_charset(from, "utf-8");
    internet_address_list_add(g_mime_message_get_from(m), from);
    g_object_unref(from);
    InternetAddress *to = internet_address_mailbox_new(NULL, o->to);
    internet_address_list_add(g_mime_message_get_to(m), to);
    g_object_unref(to);
    if (o->subject)
        g_mime_message_set_subject(m, o->subject, "utf-8");
    GDateTime *now = g_date_time_new_now_local();
    g_mime_message_set_date(m, now);
    g_date_time_unref(now);
    g_mime_message_set_message_id(m, o->message_id);
    if (in_reply_to) {
        char *v = NULL, *refs = NULL;
        if (asprintf(&v, "<%s>", in_reply_to) >= 0)
            g_mime_object_set_header(GMIME_OBJECT(m), "In-Reply-To", v, NULL);
        size_t i;
        json_t *r;
        json_array_foreach(o->refs, i, r)
        {
            char *next = NULL;
            if (asprintf(&next, "%s%s<%s>", refs ? refs : "", refs ? " " : "",
                         json_string_value(r)) < 0)
                break;
            free(refs);
            refs = next;
        }
        if (refs)
            g_mime_object_set_header(GMIME_OBJECT(m), "References", refs, NULL);
        free(v);
        free(refs);
    }
    list_unsubscribe(o, m);
    const char *text = o->msg->text ? o->msg->text : "";
    GMimeTextPart *body = g_mime_text_part_new_with_subtype("plain");
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(text, strlen(text));
    GMimeDataWrapper *content =
        g_mime_data_wrapper_new_with_stream(stream, GMIME_CONTENT_ENCODING_DEFAULT);
    g_mime_part_set_content(GMIME_PART(body), content);
    g_object_unref(content);
    g_object_unref(stream);
    g_mime_text_part_set_charset(body, "utf-8");
    g_mime_part_set_content_encoding(GMIME_PART(body), GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
    g_mime_message_set_mime_part(m, GMIME_OBJECT(body));
    g_object_unref(body);
    GMimeFormatOptions *fo = g_mime_format_options_new();
    g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
    char *out = g_mime_object_to_string(GMIME_OBJECT(m), fo);
    g_mime_format_options_free(fo);
    g_object_unref(m);
    return out;
}

static size_t upload(char *buf, size_t size, size_t n, void *arg)
{
    struct outgoing *o = arg;
    size_t len = size * n, left = o->len - o->off;
    if (len > left)
        len = left;
    memcpy(buf, o->data + o->off, len);
    o->off += len;
    return len;
}

static char *outbound_record(struct outgoing *o)
{
    struct email *e = o->e;
    char from[600], to[600];
    snprintf(from, sizeof from, "email:%s", e->from_addr);
    snprintf(to, sizeof to, "email:%s", o->to);
    json_t *fp = json_pack("{s:s,s:s}", "handle", from, "role", "brand");
    if (e->from_name)
        json_object_set_new(fp, "name", json_string(e->from_name));
    json_t *meta = json_object();
    if (json_array_size(o->refs))
        json_object_set(meta, "references", o->refs);
    json_t *rec = json_pack("{s:s,s:s,s:s,s:s,s:o,s:[{s:s,s:s}],s:o}", "kind", "message",
                            "direction", "outbound", "external_id", o->message_id, "thread",
                            o->thread, "from", fp, "to", "handle", to, "role",
                            email_is_brand(e, o->to) ? "brand" : "customer", "meta", meta);
    if (!rec)
        return NULL;
    if (o->subject)
        json_object_set_new(rec, "subject", json_string(o->subject));
    if (o->msg->text)
        json_object_set_new(rec, "text", json_string(o->msg->text));
    char *irt = clean_id(o->msg->reply_to);
    if (irt)
        json_object_set_new(rec, "reply_to", json_string(irt));
    free(irt);
    char *text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    return text;
}

static void on_sent(void *arg, int result, void *easy)
{
    struct outgoing *o = arg;
    struct email *e = o->e;
    struct kanal_send_result res = {.retry_after_ms = -1};
    char reason[700];
    char *record = NULL;
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    const char *why = o->errbuf[0] ? o->errbuf : curl_easy_strerror((CURLcode)result);
    if (result == CURLE_OK) {
        res.outcome = KANAL_SEND_SENT;
        res.provider_id = o->message_id;
        record = outbound_record(o);
        res.record_json = record;
        email_health(e, "smtp", NULL);
    } else if (code >= 500 && code < 600) {
        res.outcome = KANAL_SEND_FAILED;
        snprintf(reason, sizeof reason, "SMTP %ld: %s", code, why);
        res.reason = reason;
    } else {
        res.outcome = KANAL_SEND_RETRY;
        if (code)
            snprintf(reason, sizeof reason, "SMTP %ld: %s", code, why);
        else
            snprintf(reason, sizeof reason, "SMTP: %s", why);
        res.reason = reason;
        if (result == CURLE_COULDNT_CONNECT || result == CURLE_COULDNT_RESOLVE_HOST ||
            result == CURLE_LOGIN_DENIED || result == CURLE_OPERATION_TIMEDOUT ||
            result == CURLE_USE_SSL_FAILED) {
            char down[700];
            snprintf(down, sizeof down, "smtp: %s", why);
            email_health(e, "smtp", down);
        }
    }
    e->host->send_done(e->src, o->msg, &res);
    free(record);
    outgoing_free(o);
}

int email_send(void *state, const struct kanal_send_request *msg)
{
    struct email *e = state;
    if (!e->smtp_url)
        return finish(e, msg, KANAL_SEND_FAILED, "this source has no smtp_url");
    struct outgoing *o = calloc(1, sizeof *o);
    if (!o)
        return -ENOMEM;
    o->e = e;
    o->msg = msg;
    o->to = recipient(msg->to);
    if (!o->to) {
        char why[600];
        snprintf(why, sizeof why, "cannot send e-mail to '%.500s': not an e-mail address", msg->to);
        outgoing_free(o);
        return finish(e, msg, KANAL_SEND_FAILED, why);
    }
    make_message_id(o);
    if (!o->message_id) {
        outgoing_free(o);
        return -ENOMEM;
    }
    char *in_reply_to = NULL;
    plan(o, &in_reply_to);
    o->data = compose(o, in_reply_to);
    free(in_reply_to);
    o->len = o->data ? strlen(o->data) : 0;
    char from[600], rcpt[600];
    snprintf(from, sizeof from, "<%s>", e->from_addr);
    snprintf(rcpt, sizeof rcpt, "<%s>", o->to);
    o->rcpt = curl_slist_append(NULL, rcpt);
    o->easy = curl_easy_init();
    if (!o->data || !o->rcpt || !o->easy || !o->thread) {
        outgoing_free(o);
        return -ENOMEM;
    }
    CURL *c = o->easy;
    curl_easy_setopt(c, CURLOPT_URL, e->smtp_url);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, o->rcpt);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, upload);
    curl_easy_setopt(c, CURLOPT_READDATA, o);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)o->len);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, o->errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)e->smtp_timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 15000L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    if (e->smtp_user)
        curl_easy_setopt(c, CURLOPT_USERNAME, e->smtp_user);
    if (e->smtp_password)
        curl_easy_setopt(c, CURLOPT_PASSWORD, e->smtp_password);
    email_curl_tls(e, c, e->smtp_url);
    int r = e->host->transfer(e->src, c, on_sent, o);
    if (r < 0)
        outgoing_free(o);
    return r;
}
