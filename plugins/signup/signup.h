/* SPDX-License-Identifier: Apache-2.0 */
/* The event sign-up plugin's shared state and the interfaces between its
 * files: signup.c (options, lifecycle, attendees as parties), eventbrite.c
 * (webhooks and API fetches), csv.c (the CSV parser), csv_import.c (rows to
 * records and reports), csv_watch.c (the watched directory) and form.c
 * (HTML form posts). */
#ifndef KANAL_SIGNUP_H
#define KANAL_SIGNUP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <kanal/plugin.h>

enum signup_provider { PROVIDER_EVENTBRITE, PROVIDER_CSV, PROVIDER_FORM };

/* What a CSV column or a form field holds. */
enum signup_role {
    ROLE_OTHER = 0,
    ROLE_EMAIL,
    ROLE_PHONE,
    ROLE_NAME,
    ROLE_FIRST_NAME,
    ROLE_LAST_NAME,
    ROLE_COUNT
};

struct eventbrite;
struct csv_watch;
struct form;

struct signup {
    const struct kanal_host *host;
    struct kanal_source *src;
    enum signup_provider provider;
    const char *event_id;        /* csv, form */
    const char *event_name;      /* csv, form; may be NULL */
    const char *event_starts_at; /* csv, form; may be NULL */
    int stopping;
    struct eventbrite *eb;
    struct csv_watch *csv;
    struct form *form;
};

/* One attendee as a provider gives it; any member may be NULL or empty. */
struct signup_person {
    const char *email;
    const char *phone;
    const char *name;
    const char *first_name;
    const char *last_name;
};

/* ---- signup.c ---- */

/* The role a header or field label names ("E-posta", "Ad Soyad", "Cep
 * Telefonu", "First Name", ...), or ROLE_OTHER. */
enum signup_role signup_role_of(const char *label);
/* Compare two labels the way people mean them: case, spaces, dashes and
 * Turkish dotted/dotless i aside. */
int signup_label_equal(const char *a, const char *b);
/* The role named by a key of the columns option (email, phone, name,
 * first_name, last_name), or -1. */
int signup_role_key(const char *key, size_t len);

/* The attendee as a party: handle e-mail (else phone), both in handles.
 * key gets the main handle (for external ids).  -1 with why when there is
 * neither a valid e-mail nor a valid phone, or one given is not valid. */
int signup_party(struct signup *s, const struct signup_person *p, json_t **party, char *key,
                 size_t keylen, char *why, size_t whylen);
/* 1 when t is RFC 3339 with seconds (2026-05-01T18:00:00Z, an optional
 * fraction, Z or +hh:mm), as kanald accepts times. */
int signup_rfc3339(const char *t);
/* The record's event object {id, name?, starts_at?}. */
json_t *signup_event(const char *id, const char *name, const char *starts_at);

/* ---- eventbrite.c ---- */

int eventbrite_init(struct signup *s);
int eventbrite_http(struct signup *s, struct kanal_http_request *req);
void eventbrite_free(struct signup *s);

/* ---- csv_watch.c ---- */

int csv_watch_init(struct signup *s);
int csv_watch_start(struct signup *s);
void csv_watch_stop(struct signup *s);
void csv_watch_free(struct signup *s);

/* ---- form.c ---- */

int form_init(struct signup *s);
int form_http(struct signup *s, struct kanal_http_request *req);
void form_free(struct signup *s);

/* Strip white space at both ends, in place. */
void signup_trim(char *s);

#endif
