/* SPDX-License-Identifier: Apache-2.0 */
/* Keyword matching with Turkish-aware folding, and robots.txt rules.
 * Pure functions of their inputs (no host calls): the fuzzer runs them. */
#ifndef KANAL_LISTEN_MATCH_H
#define KANAL_LISTEN_MATCH_H

#include <stddef.h>

/* Fold UTF-8 text for matching: lower case with Turkish rules for the four
 * i's (I, İ, ı and i all become "i", so "İADE", "IADE", "ıade" and "iade"
 * are the same word), Turkish and common Latin letters without their marks
 * (ç→c, ğ→g, ö→o, ş→s, ü→u, â→a ...: people write "sikayet" for "şikayet"),
 * punctuation ('#' and '@' too) as a word break, runs of spaces as one.  A malloc'd string
 * (NULL when out of memory). */
char *lmatch_fold(const char *s);

struct lmatch {
    char **kw; /* folded keywords and phrases */
    size_t nkw;
    char **ex; /* folded exclusions */
    size_t nex;
};

/* Lists are comma-separated; a phrase may contain spaces.  0 or -ENOMEM. */
int lmatch_init(struct lmatch *m, const char *keywords, const char *exclude);
void lmatch_free(struct lmatch *m);
/* 1 when the text (title and body) names a keyword (a word or phrase that
 * starts at a word boundary; Turkish suffixes may follow: "Turkcell'e",
 * "turkcellden") and no exclusion, else 0.  No keywords: everything
 * matches but the exclusions. */
int lmatch_test(const struct lmatch *m, const char *title, const char *text);

/* robots.txt: 1 when the rules of the group for user-agent token ua
 * ("kanal"), else of "*", allow path (path with its query); the longest
 * matching Allow/Disallow rule wins, Allow on a tie; '*' and a final '$'
 * work as in RFC 9309.  NULL robots: everything is allowed. */
int lrobots_allowed(const char *robots, const char *ua, const char *path);

#endif
