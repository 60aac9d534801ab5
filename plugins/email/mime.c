/* SPDX-License-Identifier: Apache-2.0 */
/* A raw RFC 5322 message into struct mail, with GMime 3: decoded addresses
 * and subject (encoded words in any charset, to UTF-8), the threading
 * headers, the text (text/plain preferred, text/html reduced), attachments
 * as metadata, and the fields of delivery status notifications (RFC 3464). */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <gmime/gmime.h>

#include "email.h"

#define MAX_TEXT (256 * 1024)
#define MAX_REFS 64
#define MAX_DEPTH 16

/* GMime is process-wide state (its charset tables, its GType
 * registrations), and it cannot be set up again after g_mime_shutdown: a
 * second g_mime_init fills hash tables the shutdown freed, and GLib prints
 * a GLib-CRITICAL line for each.  Sources come and go with reloads (the
 * last e-mail source removed, then one added), so the library is set up
 * once, the first time a source needs it, and shut down once, when the
 * plugin is unloaded at exit.  This is the plugin's only global mutable
 * state; every source's own state lives in its struct email. */
static pthread_once_t mime_once = PTHREAD_ONCE_INIT;
static int mime_ready;

static void mime_setup(void)
{
    g_mime_init();
    mime_ready = 1;
}

void mime_init(void)
{
    pthread_once(&mime_once, mime_setup);
}

__attribute__((destructor)) static void mime_teardown(void)
{
    if (mime_ready)
        g_mime_shutdown();
}

/* A copy of a non-empty string, as valid UTF-8; NULL for NULL or "". */
static char *dup_or_null(const char *s)
{
    return s && *s ? utf8_clean(s, strlen(s)) : NULL;
}

static void lower(char *s)
{
    for (; s && *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* ---- addresses ---- */

struct addr_list {
    struct mail_addr *a;
    size_t n;
};

static void add_addresses(struct addr_list *out, InternetAddressList *list, int depth)
{
    int n = list ? internet_address_list_length(list) : 0;
    for (int i = 0; i < n && depth < 4; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_GROUP(ia)) {
            add_addresses(out, internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)),
                          depth + 1);
            continue;
        }
        const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
        if (!addr || !strchr(addr, '@') || out->n >= 500)
            continue;
        struct mail_addr *na = realloc(out->a, (out->n + 1) * sizeof *na);
        if (!na)
            return;
        out->a = na;
        const char *nm = internet_address_get_name(ia);
        char *name = nm && *nm ? utf8_clean(nm, strlen(nm)) : NULL;
        out->a[out->n].addr = utf8_clean(addr, strlen(addr));
        out->a[out->n].name = name;
        lower(out->a[out->n].addr);
        out->n++;
    }
}

/* ---- part contents ---- */

/* The decoded content of a leaf part; malloc'ed and NUL-terminated. */
static char *part_bytes(GMimePart *part, size_t *len)
{
    GMimeDataWrapper *dw = g_mime_part_get_content(part);
    *len = 0;
    if (!dw)
        return strdup("");
    GMimeStream *mem = g_mime_stream_mem_new();
    g_mime_data_wrapper_write_to_stream(dw, mem);
    GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    char *out = malloc(ba->len + 1);
    if (out) {
        if (ba->len)
            memcpy(out, ba->data, ba->len);
        out[ba->len] = '\0';
        *len = ba->len;
    }
    g_object_unref(mem);
    return out;
}

static int64_t part_size(GMimePart *part)
{
    GMimeDataWrapper *dw = g_mime_part_get_content(part);
    if (!dw)
        return 0;
    GMimeStream *null = g_mime_stream_null_new();
    g_mime_data_wrapper_write_to_stream(dw, null);
    int64_t n = (int64_t)GMIME_STREAM_NULL(null)->written;
    g_object_unref(null);
    return n;
}

/* Text with CRLF and CR turned into LF and trailing white space removed;
 * cut at MAX_TEXT on a UTF-8 boundary.  Takes ownership of s. */
static char *tidy_text(char *s)
{
    if (!s)
        return NULL;
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '\r') {
            *w++ = '\n';
            if (r[1] == '\n')
                r++;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    size_t n = strlen(s);
    if (n > MAX_TEXT) {
        n = MAX_TEXT;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        s[n] = '\0';
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* ---- delivery status notifications ---- */

/* "rfc822; a@x.com" → "a@x.com"; "smtp; 550 ..." → "550 ..." */
static char *after_type(const char *v)
{
    const char *semi = strchr(v, ';');
    const char *p = semi ? semi + 1 : v;
    while (isspace((unsigned char)*p))
        p++;
    size_t n = strlen(p);
    while (n > 0 && isspace((unsigned char)p[n - 1]))
        n--;
    return utf8_clean(p, n);
}

static void dsn_flush(struct mail *m, struct dsn_recipient *cur)
{
    if (cur->addr && m->ndsn < 100) {
        struct dsn_recipient *n = realloc(m->dsn, (m->ndsn + 1) * sizeof *n);
        if (n) {
            m->dsn = n;
            m->dsn[m->ndsn++] = *cur;
            memset(cur, 0, sizeof *cur);
            return;
        }
    }
    free(cur->addr);
    free(cur->action);
    free(cur->status);
    free(cur->diagnostic);
    memset(cur, 0, sizeof *cur);
}

static void dsn_field(struct dsn_recipient *cur, char *line)
{
    char *colon = strchr(line, ':');
    if (!colon)
        return;
    *colon = '\0';
    char *v = colon + 1;
    while (isspace((unsigned char)*v))
        v++;
    char **slot = NULL;
    if (strcasecmp(line, "Final-Recipient") == 0 ||
        (strcasecmp(line, "Original-Recipient") == 0 && !cur->addr))
        slot = &cur->addr;
    else if (strcasecmp(line, "Action") == 0)
        slot = &cur->action;
    else if (strcasecmp(line, "Status") == 0)
        slot = &cur->status;
    else if (strcasecmp(line, "Diagnostic-Code") == 0)
        slot = &cur->diagnostic;
    if (!slot)
        return;
    free(*slot);
    *slot = after_type(v); /* "rfc822; a@x" → "a@x"; "failed" stays */
    if (slot == &cur->addr || slot == &cur->action)
        lower(*slot);
}

/* message/delivery-status: a per-message block, then one block of fields
 * per recipient; blocks are separated by blank lines, fields fold like
 * headers. */
static void parse_delivery_status(struct mail *m, const char *text)
{
    struct dsn_recipient cur = {0};
    const char *p = text;
    while (*p) {
        const char *eol = p + strcspn(p, "\n");
        size_t len = (size_t)(eol - p);
        if (len && p[len - 1] == '\r')
            len--;
        if (len == 0) {
            dsn_flush(m, &cur);
        } else if (!isspace((unsigned char)*p)) {
            char line[2048];
            size_t ln = len < sizeof line - 1 ? len : sizeof line - 1;
            memcpy(line, p, ln);
            while (*eol == '\n' && (eol[1] == ' ' || eol[1] == '\t')) { /* unfold */
                const char *q = eol + 1;
                while (q[1] == ' ' || q[1] == '\t')
                    q++; /* the fold's white space becomes one space */
                const char *qe = q + strcspn(q, "\n");
                size_t ql = (size_t)(qe - q);
                if (ql && q[ql - 1] == '\r')
                    ql--;
                if (ln + ql < sizeof line - 1) {
                    memcpy(line + ln, q, ql);
                    ln += ql;
                }
                eol = qe;
            }
            line[ln] = '\0';
            dsn_field(&cur, line);
        }
        p = *eol ? eol + 1 : eol;
    }
    dsn_flush(m, &cur);
}

/* The Message-ID in a block of headers (text/rfc822-headers). */
static char *message_id_in_headers(const char *text)
{
    for (const char *p = text; *p;) {
        if (strncasecmp(p, "Message-ID:", 11) == 0) {
            const char *v = p + 11, *end = v + strcspn(v, "\r\n");
            char *value = strndup(v, (size_t)(end - v));
            char *id = value ? g_mime_utils_decode_message_id(value) : NULL;
            free(value);
            char *out = dup_or_null(id);
            g_free(id);
            return out;
        }
        p += strcspn(p, "\n");
        if (*p)
            p++;
    }
    return NULL;
}

/* ---- the part tree ---- */

struct walk {
    struct mail *m;
    char *plain, *html;
    int in_report;
};

static void add_attachment(struct walk *w, const char *type, const char *mime, const char *name,
                           int64_t size)
{
    if (json_array_size(w->m->attachments) >= 100)
        return;
    json_t *a = json_pack("{s:s,s:s,s:I}", "type", type, "mime", mime, "size", (json_int_t)size);
    if (a && name && *name) {
        char *clean = utf8_clean(name, strlen(name));
        json_object_set_new(a, "name", json_string(clean));
        free(clean);
    }
    if (a)
        json_array_append_new(w->m->attachments, a);
}

static const char *attachment_type(GMimeContentType *ct)
{
    const char *major = g_mime_content_type_get_media_type(ct);
    if (major && strcasecmp(major, "image") == 0)
        return "image";
    if (major && strcasecmp(major, "audio") == 0)
        return "audio";
    if (major && strcasecmp(major, "video") == 0)
        return "video";
    return "file";
}

static void walk_leaf(struct walk *w, GMimePart *part)
{
    GMimeObject *obj = GMIME_OBJECT(part);
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    if (w->in_report && (g_mime_content_type_is_type(ct, "message", "delivery-status") ||
                         g_mime_content_type_is_type(ct, "message", "global-delivery-status"))) {
        size_t len;
        char *text = part_bytes(part, &len);
        if (text)
            parse_delivery_status(w->m, text);
        free(text);
        return;
    }
    if (w->in_report && (g_mime_content_type_is_type(ct, "text", "rfc822-headers") ||
                         g_mime_content_type_is_type(ct, "message", "global-headers"))) {
        size_t len;
        char *text = part_bytes(part, &len);
        if (text && !w->m->dsn_original_id)
            w->m->dsn_original_id = message_id_in_headers(text);
        free(text);
        return;
    }
    int attachment = g_mime_part_is_attachment(part);
    if (!attachment && GMIME_IS_TEXT_PART(obj)) {
        if (!w->plain && g_mime_content_type_is_type(ct, "text", "plain")) {
            w->plain = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
            return;
        }
        if (!w->html && g_mime_content_type_is_type(ct, "text", "html")) {
            w->html = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
            return;
        }
        if (g_mime_content_type_is_type(ct, "text", "plain") ||
            g_mime_content_type_is_type(ct, "text", "html"))
            return; /* another rendering of the body, not an attachment */
    }
    char *mime = g_mime_content_type_get_mime_type(ct);
    add_attachment(w, attachment_type(ct), mime ? mime : "application/octet-stream",
                   g_mime_part_get_filename(part), part_size(part));
    g_free(mime);
}

static void walk_tree(struct walk *w, GMimeObject *obj, int depth)
{
    if (!obj || depth > MAX_DEPTH)
        return;
    if (GMIME_IS_MULTIPART(obj)) {
        GMimeContentType *ct = g_mime_object_get_content_type(obj);
        const char *rt = g_mime_content_type_get_parameter(ct, "report-type");
        int report = g_mime_content_type_is_type(ct, "multipart", "report") && rt &&
                     (strcasecmp(rt, "delivery-status") == 0 ||
                      strcasecmp(rt, "global-delivery-status") == 0);
        if (report && depth == 0)
            w->m->is_dsn = 1;
        int was = w->in_report;
        w->in_report = report && depth == 0;
        int n = g_mime_multipart_get_count(GMIME_MULTIPART(obj));
        for (int i = 0; i < n; i++)
            walk_tree(w, g_mime_multipart_get_part(GMIME_MULTIPART(obj), i), depth + 1);
        w->in_report = was;
        return;
    }
    if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        if (w->in_report) {
            if (inner && !w->m->dsn_original_id)
                w->m->dsn_original_id = dup_or_null(g_mime_message_get_message_id(inner));
            return;
        }
        const char *subject = inner ? g_mime_message_get_subject(inner) : NULL;
        add_attachment(w, "message", "message/rfc822", subject, 0);
        return;
    }
    if (GMIME_IS_PART(obj))
        walk_leaf(w, GMIME_PART(obj));
}

/* ---- headers ---- */

static const char *header(GMimeMessage *msg, const char *name)
{
    return g_mime_object_get_header(GMIME_OBJECT(msg), name);
}

static char *header_copy(GMimeMessage *msg, const char *name)
{
    const char *v = header(msg, name);
    return v ? utf8_clean(v, strlen(v)) : NULL;
}

static void threading(struct mail *m, GMimeMessage *msg)
{
    const char *irt = header(msg, "In-Reply-To");
    GMimeReferences *refs = irt ? g_mime_references_parse(NULL, irt) : NULL;
    if (refs && g_mime_references_length(refs) > 0)
        m->in_reply_to = dup_or_null(g_mime_references_get_message_id(refs, 0));
    if (refs)
        g_mime_references_free(refs);
    const char *r = header(msg, "References");
    refs = r ? g_mime_references_parse(NULL, r) : NULL;
    int n = refs ? g_mime_references_length(refs) : 0;
    if (n > 0) {
        m->refs = calloc((size_t)(n < MAX_REFS ? n : MAX_REFS), sizeof *m->refs);
        /* Keep the root and the most recent ones when there are too many. */
        for (int i = 0; m->refs && i < n; i++) {
            if (n > MAX_REFS && i > 0 && i < n - (MAX_REFS - 1))
                continue;
            char *id = dup_or_null(g_mime_references_get_message_id(refs, i));
            if (id)
                m->refs[m->nrefs++] = id;
        }
    }
    if (refs)
        g_mime_references_free(refs);
}

static char *first_word(const char *v)
{
    while (v && isspace((unsigned char)*v))
        v++;
    if (!v || !*v)
        return NULL;
    char *out = strndup(v, strcspn(v, " \t;("));
    lower(out);
    return out;
}

static void auto_flags(struct mail *m, GMimeMessage *msg)
{
    char *as = first_word(header(msg, "Auto-Submitted"));
    if (as && strcmp(as, "no") != 0) {
        m->auto_submitted = as;
        as = NULL;
    } else if (header(msg, "X-Autoreply") || header(msg, "X-Autorespond")) {
        m->auto_submitted = strdup("auto-replied");
    }
    free(as);
    char *prec = first_word(header(msg, "Precedence"));
    if (prec && (strcmp(prec, "bulk") == 0 || strcmp(prec, "list") == 0 ||
                 strcmp(prec, "junk") == 0 || strcmp(prec, "auto_reply") == 0)) {
        m->precedence = prec;
        if (!m->auto_submitted && strcmp(prec, "auto_reply") == 0)
            m->auto_submitted = strdup("auto-replied");
    } else {
        free(prec);
    }
}

int mail_parse(const char *raw, size_t len, struct mail *m)
{
    memset(m, 0, sizeof *m);
    m->attachments = json_array();
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(raw, len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
    g_object_unref(parser);
    g_object_unref(stream);
    if (!msg)
        return -EINVAL;

    struct addr_list from = {0}, to = {0}, cc = {0};
    add_addresses(&from, g_mime_message_get_from(msg), 0);
    if (from.n == 0)
        add_addresses(&from, g_mime_message_get_sender(msg), 0);
    if (from.n > 0) {
        m->from = from.a[0];
        for (size_t i = 1; i < from.n; i++) {
            free(from.a[i].addr);
            free(from.a[i].name);
        }
    }
    free(from.a);
    add_addresses(&to, g_mime_message_get_to(msg), 0);
    add_addresses(&cc, g_mime_message_get_cc(msg), 0);
    m->to = to.a;
    m->nto = to.n;
    m->cc = cc.a;
    m->ncc = cc.n;

    const char *subject = g_mime_message_get_subject(msg);
    if (subject)
        m->subject = utf8_clean(subject, strlen(subject));
    const char *id = g_mime_message_get_message_id(msg);
    if (id && *id && strlen(id) <= 900)
        m->message_id = utf8_clean(id, strlen(id));
    threading(m, msg);
    GDateTime *date = g_mime_message_get_date(msg);
    if (date) {
        int64_t ms = (int64_t)g_date_time_to_unix(date) * 1000;
        /* A date before 1980 or more than a day ahead is a broken clock. */
        if (ms > 315532800000LL && ms < ((int64_t)time(NULL) + 86400) * 1000)
            m->date_ms = ms;
    }
    auto_flags(m, msg);
    m->raw_from = header_copy(msg, "From");
    m->raw_to = header_copy(msg, "To");
    m->raw_date = header_copy(msg, "Date");
    m->raw_subject = header_copy(msg, "Subject");
    m->auth_results = header_copy(msg, "Authentication-Results");

    struct walk w = {.m = m};
    walk_tree(&w, g_mime_message_get_mime_part(msg), 0);
    if (w.plain && *w.plain) {
        m->text = tidy_text(utf8_clean(w.plain, strlen(w.plain)));
    } else if (w.html) {
        char *clean = utf8_clean(w.html, strlen(w.html));
        m->text = clean ? tidy_text(html_to_text(clean, strlen(clean))) : NULL;
        m->text_from_html = m->text != NULL;
        free(clean);
    }
    if (m->text && !*m->text) {
        free(m->text);
        m->text = NULL;
    }
    g_free(w.plain);
    g_free(w.html);
    g_object_unref(msg);
    return 0;
}

void mail_free(struct mail *m)
{
    free(m->auth_results);
    free(m->message_id);
    free(m->in_reply_to);
    for (size_t i = 0; i < m->nrefs; i++)
        free(m->refs[i]);
    free(m->refs);
    free(m->from.addr);
    free(m->from.name);
    for (size_t i = 0; i < m->nto; i++) {
        free(m->to[i].addr);
        free(m->to[i].name);
    }
    free(m->to);
    for (size_t i = 0; i < m->ncc; i++) {
        free(m->cc[i].addr);
        free(m->cc[i].name);
    }
    free(m->cc);
    free(m->subject);
    free(m->text);
    json_decref(m->attachments);
    free(m->auto_submitted);
    free(m->precedence);
    free(m->dsn_original_id);
    for (size_t i = 0; i < m->ndsn; i++) {
        free(m->dsn[i].addr);
        free(m->dsn[i].action);
        free(m->dsn[i].status);
        free(m->dsn[i].diagnostic);
    }
    free(m->dsn);
    free(m->raw_from);
    free(m->raw_to);
    free(m->raw_date);
    free(m->raw_subject);
    memset(m, 0, sizeof *m);
}
