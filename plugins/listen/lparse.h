/* SPDX-License-Identifier: Apache-2.0 */
/* The listen plugin's readers of the public web: RSS 2.0 / RSS 1.0 / Atom
 * feeds and HTML pages read through a site adapter (XPaths), both parsed
 * with libxml2 without network access, DTD loading or entity expansion.
 * No host calls here, so the fuzzer (tests/fuzz/fuzz_listen.c) runs it
 * alone. */
#ifndef KANAL_LISTEN_PARSE_H
#define KANAL_LISTEN_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* At most this many entries are read from one document unless the caller
 * sets lentries.max (the max_entries key). */
#define LPARSE_MAX_ENTRIES 1000
/* Text and titles are cut (on a character boundary) to this many bytes. */
#define LPARSE_MAX_TEXT (32 * 1024)
#define LPARSE_MAX_FIELD 2048

struct lentry {
    char *id;        /* guid / Atom id / the adapter's id, or NULL */
    char *author;    /* or NULL */
    char *title;     /* or NULL */
    char *text;      /* plain text, or NULL */
    char *link;      /* absolute URL, or NULL */
    int64_t time_ms; /* publication (or update) time, or -1 */
};

struct lentries {
    struct lentry *v;
    size_t n;
    char *next;  /* the next page's absolute URL (pages only), or NULL */
    char *title; /* the feed's or page's own title, or NULL */
    size_t max;  /* in: entries to read at most (0: LPARSE_MAX_ENTRIES) */
    int cut;     /* out: the document had more */
};

/* A site adapter: [adapter NAME] in an adapters file. */
struct ladapter {
    char *name;
    char *entry;                                    /* absolute XPath: one node per entry */
    char *id, *author, *time, *title, *text, *link; /* relative to the entry */
    char *next; /* absolute XPath of the next page's link, or NULL */
    char *kind; /* "mention" (default) or "post" */
};

/* Read a feed.  0, or -EINVAL with why set when it is not a feed libxml2
 * can read (malformed XML, or no rss/feed/RDF root). */
int lparse_feed(const char *body, size_t len, const char *base_url, struct lentries *out, char *why,
                size_t why_len);
/* Read an HTML page with an adapter.  0, or -EINVAL with why set (an
 * XPath libxml2 refuses, or no document at all). */
int lparse_page(const struct ladapter *a, const char *body, size_t len, const char *base_url,
                struct lentries *out, char *why, size_t why_len);
void lentries_free(struct lentries *e);

/* A time as feeds and pages write it: RFC 3339, RFC 822 (and what
 * curl_getdate reads), or "DD.MM.YYYY HH:MM" (Turkish sites, +03:00).
 * Unix milliseconds, or -1. */
int64_t lparse_time(const char *s);

/* Check an XPath compiles; 0 or -EINVAL. */
int lparse_xpath_ok(const char *xpath);

#endif
