/* SPDX-License-Identifier: Apache-2.0 */
/* The listen plugin's readers of the open web (plugins/listen/lparse.c,
 * lmatch.c): one selector byte, then the document.  Selector & 3: 0 a
 * feed, 1 a page through a Şikayetvar-style adapter, 2 one through an
 * Ekşi-style adapter, 3 robots.txt rules and keyword matching.  Checks:
 * a refused document says why; no more than LPARSE_MAX_ENTRIES entries;
 * every string is bounded and NUL-free UTF-8 as libxml2 gives it; folding
 * never grows text more than its marks allow; matching and robots rules
 * end (a hang shows as a libFuzzer timeout). */
#include "fuzz.h"

#include "lmatch.h"
#include "lparse.h"

static const struct ladapter sikayet = {
    "sikayet",
    "//article[contains(@class, 'card-v2')]",
    "@data-id",
    ".//*[contains(@class, 'username')]",
    ".//time/@datetime",
    ".//h2",
    ".//p",
    ".//h2//a/@href",
    "//a[@rel='next']/@href",
    "mention",
};

static const struct ladapter eksi = {
    "eksi",
    "//ul[@id='entry-item-list']/li",
    "@data-id",
    "@data-author",
    ".//a[contains(@class, 'entry-date')]",
    "//h1[@id='title']/@data-title",
    ".//div[contains(@class, 'content')]",
    ".//a[contains(@class, 'entry-date')]/@href",
    "//div[contains(@class, 'pager')]/a[contains(@class, 'next')]/@href",
    "mention",
};

static void check_field(const char *s, size_t max, const char *what)
{
    if (s && strlen(s) > max)
        FUZZ_FAIL("%s of %zu bytes (at most %zu)", what, strlen(s), max);
    if (s && !*s)
        FUZZ_FAIL("an empty %s instead of none", what);
}

static void check_entries(const struct lentries *e)
{
    if (e->n > LPARSE_MAX_ENTRIES)
        FUZZ_FAIL("%zu entries", e->n);
    for (size_t i = 0; i < e->n; i++) {
        check_field(e->v[i].id, LPARSE_MAX_FIELD, "id");
        check_field(e->v[i].author, LPARSE_MAX_FIELD, "author");
        check_field(e->v[i].title, LPARSE_MAX_FIELD, "title");
        check_field(e->v[i].text, LPARSE_MAX_TEXT, "text");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    unsigned sel = fuzz_byte(&in) & 3;
    char *doc = fuzz_strndup(in.p, in.n);
    char why[400] = "";
    struct lentries e = {.max = 0};
    if (sel == 0 || sel == 1 || sel == 2) {
        int r = sel == 0 ? lparse_feed(doc, in.n, "http://example.com/feed", &e, why, sizeof why)
                         : lparse_page(sel == 1 ? &sikayet : &eksi, doc, in.n,
                                       "http://example.com/p", &e, why, sizeof why);
        if (r < 0) {
            if (!why[0])
                FUZZ_FAIL("a document refused without a reason");
        } else {
            check_entries(&e);
            lentries_free(&e);
        }
    } else {
        /* The first line is the path and the keywords; the rest robots.txt. */
        char *nl = strchr(doc, '\n');
        const char *robots = nl ? nl + 1 : "";
        if (nl)
            *nl = '\0';
        (void)lrobots_allowed(robots, "kanal", doc);
        struct lmatch m;
        if (lmatch_init(&m, doc, "x") == 0) {
            (void)lmatch_test(&m, doc, robots);
            lmatch_free(&m);
        }
        char *f = lmatch_fold(robots);
        if (f && strlen(f) > strlen(robots) + 2)
            FUZZ_FAIL("folding grew %zu bytes to %zu", strlen(robots), strlen(f));
        free(f);
        (void)lparse_time(doc);
    }
    free(doc);
    return 0;
}
