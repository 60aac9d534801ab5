/* SPDX-License-Identifier: Apache-2.0 */
/* signup: event sign-ups as a kanal channel, from three providers, each
 * configured as a source of its own (provider = ...):
 *
 *   eventbrite  Eventbrite webhooks; the order or attendee is fetched from
 *               the API with the token (eventbrite.c)
 *   csv         attendee exports dropped into a watched directory (csv_*.c)
 *   form        plain HTML form posts (form.c)
 *
 * Every record is kind signup, checkin or cancel, direction inbound, from
 * the attendee (e-mail and phone handles), and names its event {id, name,
 * starts_at}: the CRM learns which event a contact came from and whether it
 * met the contact again at another one.
 *
 * The attendee's party is never marked "trust": whoever fills in a form,
 * a CSV or an Eventbrite profile can type anyone's e-mail and phone, so
 * these parties are asserted: they never merge two existing contacts, they
 * raise a merge candidate instead (docs/identity.md).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kanal/kit.h>

#include "signup.h"

/* ---- labels of columns and fields ---- */

/* Fold a label for comparison: ASCII lower case, Turkish letters to their
 * ASCII base (İ/ı to i, ş to s, ...), and spaces, dashes, dots,
 * underscores, colons, asterisks and parentheses dropped. */
static void fold(const char *in, char *out, size_t cap)
{
    static const struct {
        const char *utf8;
        char ascii;
    } letters[] = {{"\xc4\xb0", 'i'}, {"\xc4\xb1", 'i'}, {"\xc5\x9e", 's'}, {"\xc5\x9f", 's'},
                   {"\xc3\x87", 'c'}, {"\xc3\xa7", 'c'}, {"\xc4\x9e", 'g'}, {"\xc4\x9f", 'g'},
                   {"\xc3\x9c", 'u'}, {"\xc3\xbc", 'u'}, {"\xc3\x96", 'o'}, {"\xc3\xb6", 'o'}};
    size_t n = 0;
    while (*in && n + 1 < cap) {
        int matched = 0;
        for (size_t i = 0; i < sizeof letters / sizeof letters[0]; i++)
            if (strncmp(in, letters[i].utf8, 2) == 0) {
                out[n++] = letters[i].ascii;
                in += 2;
                matched = 1;
                break;
            }
        if (matched)
            continue;
        unsigned char c = (unsigned char)*in++;
        if (!strchr(" \t-_.:*()/", c))
            out[n++] = (char)tolower(c);
    }
    out[n] = '\0';
}

int signup_label_equal(const char *a, const char *b)
{
    char fa[128], fb[128];
    fold(a, fa, sizeof fa);
    fold(b, fb, sizeof fb);
    return fa[0] && strcmp(fa, fb) == 0;
}

/* Header names seen in exports (English, Eventbrite, Turkish spreadsheets),
 * already folded. */
static const char *const aliases[ROLE_COUNT][24] = {
    [ROLE_EMAIL] = {"email", "mail", "emailaddress", "emailadresi", "eposta", "epostaadresi",
                    "epostaadres", "mailadresi", "correo", NULL},
    [ROLE_PHONE] = {"phone", "phonenumber", "mobile", "mobilephone", "mobilenumber", "cellphone",
                    "cell", "telephone", "tel", "telno", "telefon", "telefonno", "telefonnumarasi",
                    "ceptelefonu", "ceptelefon", "cep", "cepno", "gsm", NULL},
    [ROLE_NAME] = {"name", "fullname", "attendeename", "attendee", "participant", "adsoyad",
                   "adisoyadi", "adsoyadi", "isimsoyisim", "isim", "adveyasoyad", "katilimci",
                   NULL},
    [ROLE_FIRST_NAME] = {"firstname", "first", "givenname", "ad", "adi", NULL},
    [ROLE_LAST_NAME] = {"lastname", "last", "surname", "familyname", "soyad", "soyadi", "soyisim",
                        NULL},
};

enum signup_role signup_role_of(const char *label)
{
    char f[128];
    fold(label, f, sizeof f);
    for (int role = ROLE_EMAIL; role < ROLE_COUNT; role++)
        for (size_t i = 0; aliases[role][i]; i++)
            if (strcmp(f, aliases[role][i]) == 0)
                return (enum signup_role)role;
    return ROLE_OTHER;
}

int signup_role_key(const char *key, size_t len)
{
    static const char *const keys[ROLE_COUNT] = {NULL,   "email",      "phone",
                                                 "name", "first_name", "last_name"};
    for (int role = ROLE_EMAIL; role < ROLE_COUNT; role++)
        if (strlen(keys[role]) == len && strncmp(keys[role], key, len) == 0)
            return role;
    return -1;
}

/* ---- attendees ---- */

static int present(const char *s)
{
    if (!s)
        return 0;
    while (isspace((unsigned char)*s))
        s++;
    return *s != '\0';
}

static int normalize(struct signup *s, const char *scheme, const char *value, char *out, size_t len)
{
    char in[600];
    snprintf(in, sizeof in, "%s:%s", scheme, value);
    return s->host->normalize_handle(s->src, in, out, len);
}

int signup_party(struct signup *s, const struct signup_person *p, json_t **party, char *key,
                 size_t keylen, char *why, size_t whylen)
{
    char email[512] = "", phone[64] = "";
    *party = NULL;
    if (present(p->email) && normalize(s, "email", p->email, email, sizeof email) < 0) {
        snprintf(why, whylen, "e-mail address '%.80s' is not valid", p->email);
        return -1;
    }
    if (present(p->phone) && normalize(s, "phone", p->phone, phone, sizeof phone) < 0) {
        snprintf(why, whylen, "phone number '%.40s' is not valid%s", p->phone,
                 p->phone[0] == '+' || p->phone[0] == '0' ? ""
                                                          : " (set default_country for national "
                                                            "numbers)");
        return -1;
    }
    if (!email[0] && !phone[0]) {
        snprintf(why, whylen, "neither an e-mail address nor a phone number");
        return -1;
    }
    const char *main = email[0] ? email : phone;
    snprintf(key, keylen, "%s", main);
    json_t *handles = json_array();
    json_array_append_new(handles, json_string(main));
    if (email[0] && phone[0])
        json_array_append_new(handles, json_string(phone));
    *party = json_pack("{s:s,s:s,s:o}", "handle", main, "role", "customer", "handles", handles);
    char name[300] = "";
    if (present(p->name))
        snprintf(name, sizeof name, "%s", p->name);
    else if (present(p->first_name) || present(p->last_name))
        snprintf(name, sizeof name, "%s%s%s", present(p->first_name) ? p->first_name : "",
                 present(p->first_name) && present(p->last_name) ? " " : "",
                 present(p->last_name) ? p->last_name : "");
    /* Trim what spreadsheets leave around names. */
    char *start = name;
    while (isspace((unsigned char)*start))
        start++;
    size_t n = strlen(start);
    while (n > 0 && isspace((unsigned char)start[n - 1]))
        start[--n] = '\0';
    if (*start)
        json_object_set_new(*party, "name", json_string(start));
    return 0;
}

json_t *signup_event(const char *id, const char *name, const char *starts_at)
{
    json_t *ev = json_pack("{s:s}", "id", id);
    if (name && *name)
        json_object_set_new(ev, "name", json_string(name));
    if (starts_at && *starts_at)
        json_object_set_new(ev, "starts_at", json_string(starts_at));
    return ev;
}

/* ---- lifecycle ---- */

int signup_rfc3339(const char *t)
{
    if (!t)
        return 0;
    const char *shape = "dddd-dd-ddTdd:dd:dd";
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? !isdigit((unsigned char)t[i]) : t[i] != shape[i])
            return 0;
    t += strlen(shape);
    if (*t == '.')
        for (t++; isdigit((unsigned char)*t); t++)
            ;
    if (*t == 'Z')
        return t[1] == '\0';
    return (*t == '+' || *t == '-') && isdigit((unsigned char)t[1]) &&
           isdigit((unsigned char)t[2]) && t[3] == ':' && isdigit((unsigned char)t[4]) &&
           isdigit((unsigned char)t[5]) && t[6] == '\0';
}

static const struct kanal_kit_bind signup_binds[] = {
    {"event_id", KANAL_KIT_STR, offsetof(struct signup, event_id)},
    {"event_name", KANAL_KIT_STR, offsetof(struct signup, event_name)},
    {"event_starts_at", KANAL_KIT_STR, offsetof(struct signup, event_starts_at)},
    {NULL, 0, 0},
};

static int signup_init(const struct kanal_host *host, struct kanal_source *src, void **state)
{
    struct signup *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->host = host;
    s->src = src;
    const char *provider = host->config_string(src, "provider");
    s->provider = strcmp(provider, "eventbrite") == 0 ? PROVIDER_EVENTBRITE
                  : strcmp(provider, "csv") == 0      ? PROVIDER_CSV
                                                      : PROVIDER_FORM;
    int r = kanal_kit_bind_options(host, src, signup_binds, s);
    if (r < 0) {
        free(s);
        return r;
    }
    if (s->provider != PROVIDER_EVENTBRITE && !present(s->event_id)) {
        host->log(src, KANAL_LOG_ERR, "provider %s needs event_id (the event its sign-ups are for)",
                  provider);
        r = KANAL_ECONFIG;
    } else if (s->event_starts_at && !signup_rfc3339(s->event_starts_at)) {
        host->log(src, KANAL_LOG_ERR,
                  "event_starts_at must be an RFC 3339 time like 2026-05-01T18:00:00+03:00");
        r = KANAL_ECONFIG;
    } else if (s->provider == PROVIDER_EVENTBRITE) {
        r = eventbrite_init(s);
    } else if (s->provider == PROVIDER_CSV) {
        r = csv_watch_init(s);
    } else {
        r = form_init(s);
    }
    if (r < 0) {
        eventbrite_free(s);
        csv_watch_free(s);
        form_free(s);
        free(s);
        return r;
    }
    *state = s;
    return 0;
}

static int signup_start(void *state)
{
    struct signup *s = state;
    return s->provider == PROVIDER_CSV ? csv_watch_start(s) : 0;
}

static int signup_stop(void *state)
{
    struct signup *s = state;
    s->stopping = 1;
    if (s->provider == PROVIDER_CSV)
        csv_watch_stop(s);
    return 0;
}

static void signup_destroy(void *state)
{
    struct signup *s = state;
    eventbrite_free(s);
    csv_watch_free(s);
    form_free(s);
    free(s);
}

static int signup_http(void *state, struct kanal_http_request *req)
{
    struct signup *s = state;
    if (s->provider == PROVIDER_EVENTBRITE)
        return eventbrite_http(s, req);
    if (s->provider == PROVIDER_FORM)
        return form_http(s, req);
    static const char body[] = "{\"error\":{\"code\":\"no_webhooks\",\"message\":\"a csv source "
                               "reads its watch_dir; it takes no requests\"}}";
    s->host->http_respond(req, 404, "application/json", body, sizeof body - 1);
    return 0;
}

static const struct kanal_option signup_options[] = {
    {"provider", KANAL_OPT_ENUM, NULL, 1, "where the sign-ups come from", "eventbrite|csv|form"},
    {"event_id", KANAL_OPT_STRING, NULL, 0,
     "csv, form: the event the sign-ups are for (required for them)", NULL},
    {"event_name", KANAL_OPT_STRING, NULL, 0, "csv, form: the event's name", NULL},
    {"event_starts_at", KANAL_OPT_STRING, NULL, 0, "csv, form: when the event starts (RFC 3339)",
     NULL},
    {"token", KANAL_OPT_SECRET, NULL, 0, "eventbrite: private OAuth token for the API", NULL},
    {"api_url", KANAL_OPT_URL, "https://www.eventbriteapi.com", 0,
     "eventbrite: API base URL; webhooks naming another host are refused", NULL},
    {"hook_secret", KANAL_OPT_SECRET, NULL, 0,
     "eventbrite (required): unguessable last path segment, 16+ characters: webhooks go to "
     "/hooks/<source>/<hook_secret>",
     NULL},
    {"timeout", KANAL_OPT_DURATION, "10s", 0, "eventbrite: time allowed for one API request", NULL},
    {"watch_dir", KANAL_OPT_STRING, NULL, 0,
     "csv: directory where attendee exports are dropped (done/ and failed/ go inside)", NULL},
    {"columns", KANAL_OPT_STRING, NULL, 0,
     "csv: header of each column, e.g. email=E-posta,name=Ad Soyad,phone=Telefon "
     "(default: recognised by common names)",
     NULL},
    {"delimiter", KANAL_OPT_ENUM, "auto", 0, "csv: field separator", "auto|comma|semicolon|tab"},
    {"settle", KANAL_OPT_DURATION, "2s", 0,
     "csv: a file is read once its size and time stayed unchanged this long", NULL},
    {"max_file_size", KANAL_OPT_SIZE, NULL, 0, "csv: the former name of csv_max_file_size", NULL},
    {"redirect_url", KANAL_OPT_URL, NULL, 0, "form: the thank-you page (303 after the commit)",
     NULL},
    {"fields", KANAL_OPT_STRING, "name,email,phone", 0,
     "form: fields kept, comma-separated; a trailing * marks one required", NULL},
    {"honeypot", KANAL_OPT_STRING, "website", 0,
     "form: hidden field that only bots fill in; such posts are not stored", NULL},
    {"rate_limit", KANAL_OPT_INT, "10", 0,
     "form: posts per client address and rate_window (0: off)", NULL},
    {"rate_window", KANAL_OPT_DURATION, "1m", 0, "form: the window of rate_limit", NULL},
    {"trust_forwarded_for", KANAL_OPT_BOOL, "no", 0,
     "form: take the client address from X-Forwarded-For (only behind your own proxy)", NULL},
    {"csv_max_file_size", KANAL_OPT_SIZE, "50M", 0,
     "csv: larger files go to failed/ unread (the file is held in memory while imported)", NULL},
    {"csv_max_rows", KANAL_OPT_INT, "200000", 0,
     "csv: files with more rows go to failed/ before any row is stored", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static const struct kanal_plugin signup_plugin = {
    KANAL_PLUGIN_HEADER,
    .name = "signup",
    .version = "1.0.0",
    .description = "event sign-ups: Eventbrite webhooks, CSV attendee exports, HTML forms",
    .options = signup_options,
    .init = signup_init,
    .start = signup_start,
    .stop = signup_stop,
    .destroy = signup_destroy,
    .http = signup_http,
};

KANAL_PLUGIN_EXPORT const struct kanal_plugin *kanal_plugin_entry(void)
{
    return &signup_plugin;
}

void signup_trim(char *s)
{
    char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    size_t n = strlen(p);
    while (n > 0 && isspace((unsigned char)p[n - 1]))
        n--;
    memmove(s, p, n);
    s[n] = '\0';
}
