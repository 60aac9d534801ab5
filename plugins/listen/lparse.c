/* SPDX-License-Identifier: Apache-2.0 */
/* Feeds and pages to entries, with libxml2.
 *
 * Safety: documents come from the open web.  XML is read with
 * XML_PARSE_NONET and without XML_PARSE_NOENT, XML_PARSE_DTDLOAD and
 * XML_PARSE_HUGE: no external entity or DTD is ever loaded (no XXE), entity
 * references are not expanded into the tree, and libxml2's own limits
 * (depth, text node size, entity amplification) stay on, so a
 * billion-laughs document is refused as malformed.  Text is collected from
 * text and CDATA nodes only: an entity reference left in the tree adds
 * nothing.  HTML is read with htmlReadMemory and HTML_PARSE_NONET. */
#include "lparse.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/uri.h>
#include <libxml/xpath.h>

#define XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)
#define HTML_OPTIONS \
    (HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NOIMPLIED)

/* ---- text ---- */

struct tbuf {
    char *p;
    size_t n, cap, max;
};

static void tb_add(struct tbuf *b, const char *s, size_t n)
{
    if (b->n >= b->max)
        return;
    if (n > b->max - b->n)
        n = b->max - b->n;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static int is_block(const xmlNode *n)
{
    static const char *const blocks[] = {"p",       "br",      "div", "li", "tr",    "h1",
                                         "h2",      "h3",      "h4",  "h5", "h6",    "blockquote",
                                         "section", "article", "ul",  "ol", "table", NULL};
    for (size_t i = 0; blocks[i]; i++)
        if (xmlStrcasecmp(n->name, (const xmlChar *)blocks[i]) == 0)
            return 1;
    return 0;
}

/* Text and CDATA below n; entity references (never expanded here), comments,
 * scripts and styles add nothing. */
static void collect(const xmlNode *n, struct tbuf *b, int depth)
{
    if (!n || depth > 256)
        return;
    switch (n->type) {
    case XML_TEXT_NODE:
    case XML_CDATA_SECTION_NODE:
        if (n->content)
            tb_add(b, (const char *)n->content, strlen((const char *)n->content));
        return;
    case XML_ATTRIBUTE_NODE:
    case XML_ELEMENT_NODE:
    case XML_DOCUMENT_NODE:
    case XML_HTML_DOCUMENT_NODE:
        break;
    default:
        return;
    }
    if (n->type == XML_ELEMENT_NODE && (xmlStrcasecmp(n->name, (const xmlChar *)"script") == 0 ||
                                        xmlStrcasecmp(n->name, (const xmlChar *)"style") == 0))
        return;
    int block = n->type == XML_ELEMENT_NODE && is_block(n);
    if (block)
        tb_add(b, "\n", 1);
    for (const xmlNode *c = n->children; c; c = c->next)
        collect(c, b, depth + 1);
    if (block)
        tb_add(b, "\n", 1);
}

/* Length of the valid UTF-8 character at s (no overlong forms, no
 * surrogates, at most U+10FFFF), or 0. */
static size_t utf8_char(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n = c >= 0xC2 && c <= 0xDF   ? 2
               : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4
                                        : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return n;
}

/* Collapse white space (keeping single line breaks between blocks), trim,
 * and cut to max bytes on a UTF-8 boundary.  A byte that is not UTF-8
 * (libxml2 gives UTF-8, but a page may lie about its charset) becomes '?':
 * a record holds only UTF-8.  NULL for an empty text. */
static char *tidy(char *s, size_t max)
{
    if (!s)
        return NULL;
    for (size_t i = 0; s[i];) {
        size_t n = utf8_char((const unsigned char *)s + i);
        if (n == 0) {
            s[i++] = '?';
            continue;
        }
        i += n;
    }
    size_t o = 0;
    int space = 0, nl = 0;
    for (size_t i = 0; s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n' || c == '\r') {
            nl = 1;
            continue;
        }
        if (isspace(c) || c < 0x20) {
            space = 1;
            continue;
        }
        if (o > 0 && (nl || space))
            s[o++] = nl ? '\n' : ' ';
        nl = space = 0;
        s[o++] = (char)c;
    }
    if (o > max) {
        o = max;
        while (o > 0 && ((unsigned char)s[o] & 0xC0) == 0x80)
            o--;
    }
    s[o] = '\0';
    if (o == 0) {
        free(s);
        return NULL;
    }
    return s;
}

static char *node_text(const xmlNode *n, size_t max)
{
    struct tbuf b = {NULL, 0, 0, max * 2 + 64};
    collect(n, &b, 0);
    return tidy(b.p, max);
}

/* Feed text that is itself HTML (escaped or in CDATA): reduce it to text. */
static char *html_to_text(const char *s, size_t max)
{
    if (!s)
        return NULL;
    if (!strchr(s, '<') && !strchr(s, '&'))
        return tidy(strdup(s), max);
    htmlDocPtr d = htmlReadMemory(s, (int)strlen(s), NULL, "UTF-8", HTML_OPTIONS);
    if (!d)
        return tidy(strdup(s), max);
    char *t = node_text((xmlNode *)d, max);
    xmlFreeDoc(d);
    return t;
}

static char *absolute(const char *href, const char *base)
{
    if (!href)
        return NULL;
    xmlChar *u = xmlBuildURI((const xmlChar *)href, (const xmlChar *)base);
    char *out = u ? strdup((const char *)u) : strdup(href);
    xmlFree(u);
    return out;
}

/* ---- time ---- */

static int64_t rfc3339(const char *s)
{
    int y, mo, d, h, mi, sec = 0;
    char *end;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d", &y, &mo, &d, &h, &mi) != 5 &&
        sscanf(s, "%4d-%2d-%2d %2d:%2d", &y, &mo, &d, &h, &mi) != 5)
        return -1;
    const char *p = s + 16;
    if (*p == ':') {
        sec = (int)strtol(p + 1, &end, 10);
        p = end;
        if (*p == '.')
            for (p++; isdigit((unsigned char)*p); p++)
                ;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || sec < 0)
        return -1;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    int64_t t = (int64_t)timegm(&tm);
    if (*p == '+' || *p == '-') {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2 && sscanf(p + 1, "%2d%2d", &oh, &om) != 2)
            return -1;
        int64_t off = (int64_t)oh * 3600 + om * 60;
        t += *p == '+' ? -off : off;
    } else if (*p != 'Z' && *p != 'z' && *p != '\0') {
        return -1;
    }
    return t * 1000;
}

int64_t lparse_time(const char *s)
{
    if (!s)
        return -1;
    while (isspace((unsigned char)*s))
        s++;
    if (!*s || strlen(s) > 64)
        return -1;
    int64_t t = rfc3339(s);
    if (t >= 0)
        return t;
    int d, mo, y, h = 0, mi = 0;
    if (sscanf(s, "%2d.%2d.%4d %2d:%2d", &d, &mo, &y, &h, &mi) >= 3 && mo >= 1 && mo <= 12 &&
        d >= 1 && d <= 31 && y >= 1970 && h >= 0 && h <= 23 && mi >= 0 && mi <= 59) {
        struct tm tm = {
            .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
        return ((int64_t)timegm(&tm) - 3 * 3600) * 1000; /* Türkiye: UTC+3 all year */
    }
    time_t c = curl_getdate(s, NULL);
    return c > 0 ? (int64_t)c * 1000 : -1;
}

/* ---- feeds ---- */

static int named(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, (const xmlChar *)name) == 0;
}

static const xmlNode *child(const xmlNode *n, const char *name)
{
    for (const xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (named(c, name))
            return c;
    return NULL;
}

static char *child_text(const xmlNode *n, const char *name, size_t max)
{
    const xmlNode *c = child(n, name);
    return c ? node_text(c, max) : NULL;
}

static char *attr(const xmlNode *n, const char *name)
{
    xmlChar *v = n ? xmlGetProp(n, (const xmlChar *)name) : NULL;
    char *s = v ? strdup((const char *)v) : NULL;
    xmlFree(v);
    return s;
}

static struct lentry *add_entry(struct lentries *out)
{
    if (out->n >= out->max) {
        out->cut = 1;
        return NULL;
    }
    struct lentry *v = realloc(out->v, (out->n + 1) * sizeof *v);
    if (!v)
        return NULL;
    out->v = v;
    struct lentry *e = &v[out->n++];
    memset(e, 0, sizeof *e);
    e->time_ms = -1;
    return e;
}

static void rss_item(const xmlNode *it, const char *base, struct lentries *out)
{
    struct lentry *e = add_entry(out);
    if (!e)
        return;
    e->id = child_text(it, "guid", LPARSE_MAX_FIELD);
    char *title = child_text(it, "title", LPARSE_MAX_FIELD);
    e->title = html_to_text(title, LPARSE_MAX_FIELD);
    free(title);
    char *link = child_text(it, "link", LPARSE_MAX_FIELD);
    if (!link) {
        link = attr(child(it, "link"), "resource"); /* RSS 1.0 */
        if (!link)
            link = attr(it, "about");
    }
    e->link = absolute(link, base);
    free(link);
    char *body = child_text(it, "encoded", LPARSE_MAX_TEXT * 2); /* content:encoded */
    if (!body)
        body = child_text(it, "description", LPARSE_MAX_TEXT * 2);
    e->text = html_to_text(body, LPARSE_MAX_TEXT);
    free(body);
    e->author = child_text(it, "creator", LPARSE_MAX_FIELD); /* dc:creator */
    if (!e->author) {
        /* RSS's author is "e-mail (Name)": keep the name, never the address. */
        e->author = child_text(it, "author", LPARSE_MAX_FIELD);
        char *open = e->author ? strchr(e->author, '(') : NULL;
        size_t n = e->author ? strlen(e->author) : 0;
        if (open && n > 0 && e->author[n - 1] == ')' && open[1] != ')') {
            e->author[n - 1] = '\0';
            memmove(e->author, open + 1, strlen(open + 1) + 1);
        }
    }
    char *when = child_text(it, "pubDate", 128);
    if (!when)
        when = child_text(it, "date", 128); /* dc:date */
    e->time_ms = lparse_time(when);
    free(when);
}

static void atom_entry(const xmlNode *it, const char *base, struct lentries *out)
{
    struct lentry *e = add_entry(out);
    if (!e)
        return;
    e->id = child_text(it, "id", LPARSE_MAX_FIELD);
    char *title = child_text(it, "title", LPARSE_MAX_FIELD);
    e->title = html_to_text(title, LPARSE_MAX_FIELD);
    free(title);
    const xmlNode *alt = NULL;
    for (const xmlNode *c = it->children; c; c = c->next) {
        if (!named(c, "link"))
            continue;
        char *rel = attr(c, "rel");
        int is_alt = !rel || strcmp(rel, "alternate") == 0;
        free(rel);
        if (is_alt && !alt)
            alt = c;
    }
    char *href = attr(alt, "href");
    e->link = absolute(href, base);
    free(href);
    char *body = child_text(it, "content", LPARSE_MAX_TEXT * 2);
    if (!body)
        body = child_text(it, "summary", LPARSE_MAX_TEXT * 2);
    e->text = html_to_text(body, LPARSE_MAX_TEXT);
    free(body);
    e->author = child_text(child(it, "author"), "name", LPARSE_MAX_FIELD);
    char *when = child_text(it, "published", 128);
    if (!when)
        when = child_text(it, "updated", 128);
    e->time_ms = lparse_time(when);
    free(when);
}

int lparse_feed(const char *body, size_t len, const char *base_url, struct lentries *out, char *why,
                size_t why_len)
{
    size_t max = out->max ? out->max : LPARSE_MAX_ENTRIES;
    memset(out, 0, sizeof *out);
    out->max = max;
    if (len > INT32_MAX) {
        snprintf(why, why_len, "document too large");
        return -EINVAL;
    }
    xmlDocPtr doc = xmlReadMemory(body, (int)len, base_url, NULL, XML_OPTIONS);
    if (!doc) {
        const xmlError *err = xmlGetLastError();
        snprintf(why, why_len, "not well-formed XML%s%.160s", err && err->message ? ": " : "",
                 err && err->message ? err->message : "");
        size_t n = strlen(why);
        while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == ' '))
            why[--n] = '\0';
        return -EINVAL;
    }
    const xmlNode *root = xmlDocGetRootElement(doc);
    int r = 0;
    if (root && named(root, "rss")) {
        const xmlNode *ch = child(root, "channel");
        out->title = child_text(ch, "title", LPARSE_MAX_FIELD);
        for (const xmlNode *c = ch ? ch->children : NULL; c; c = c->next)
            if (named(c, "item"))
                rss_item(c, base_url, out);
    } else if (root && named(root, "RDF")) {
        out->title = child_text(child(root, "channel"), "title", LPARSE_MAX_FIELD);
        for (const xmlNode *c = root->children; c; c = c->next)
            if (named(c, "item"))
                rss_item(c, base_url, out);
    } else if (root && named(root, "feed")) {
        out->title = child_text(root, "title", LPARSE_MAX_FIELD);
        for (const xmlNode *c = root->children; c; c = c->next)
            if (named(c, "entry"))
                atom_entry(c, base_url, out);
    } else {
        snprintf(why, why_len, "XML without an rss, RDF or feed root element (<%.40s>)",
                 root ? (const char *)root->name : "");
        r = -EINVAL;
    }
    xmlFreeDoc(doc);
    return r;
}

/* ---- pages ---- */

int lparse_xpath_ok(const char *xpath)
{
    xmlXPathCompExprPtr c = xmlXPathCompile((const xmlChar *)xpath);
    xmlXPathFreeCompExpr(c);
    return c ? 0 : -EINVAL;
}

/* The value of an XPath: the first node's text (an attribute's value),
 * or a string or number result.  NULL when empty or absent. */
static char *xpath_value(xmlXPathContextPtr ctx, xmlNodePtr at, const char *xpath, size_t max)
{
    if (!xpath)
        return NULL;
    ctx->node = at;
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)xpath, ctx);
    char *v = NULL;
    if (o && o->type == XPATH_NODESET && o->nodesetval && o->nodesetval->nodeNr > 0)
        v = node_text(o->nodesetval->nodeTab[0], max);
    else if (o && o->type == XPATH_STRING && o->stringval)
        v = tidy(strdup((const char *)o->stringval), max);
    else if (o && o->type == XPATH_NUMBER && o->floatval == o->floatval) {
        char num[64];
        snprintf(num, sizeof num, "%.0f", o->floatval);
        v = strdup(num);
    }
    xmlXPathFreeObject(o);
    return v;
}

int lparse_page(const struct ladapter *a, const char *body, size_t len, const char *base_url,
                struct lentries *out, char *why, size_t why_len)
{
    size_t max = out->max ? out->max : LPARSE_MAX_ENTRIES;
    memset(out, 0, sizeof *out);
    out->max = max;
    if (len > INT32_MAX || len == 0) {
        snprintf(why, why_len, len ? "document too large" : "empty document");
        return -EINVAL;
    }
    htmlDocPtr doc = htmlReadMemory(body, (int)len, base_url, NULL, HTML_OPTIONS);
    if (!doc) {
        snprintf(why, why_len, "libxml2 read no HTML document");
        return -EINVAL;
    }
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr set = ctx ? xmlXPathEvalExpression((const xmlChar *)a->entry, ctx) : NULL;
    if (!set) {
        snprintf(why, why_len, "adapter %s: the entry XPath cannot be evaluated", a->name);
        xmlXPathFreeContext(ctx);
        xmlFreeDoc(doc);
        return -EINVAL;
    }
    xmlNodeSetPtr ns = set->type == XPATH_NODESET ? set->nodesetval : NULL;
    for (int i = 0; ns && i < ns->nodeNr; i++) {
        struct lentry *e = add_entry(out);
        if (!e)
            break;
        xmlNodePtr n = ns->nodeTab[i];
        e->id = xpath_value(ctx, n, a->id, LPARSE_MAX_FIELD);
        e->author = xpath_value(ctx, n, a->author, LPARSE_MAX_FIELD);
        e->title = xpath_value(ctx, n, a->title, LPARSE_MAX_FIELD);
        e->text =
            a->text ? xpath_value(ctx, n, a->text, LPARSE_MAX_TEXT) : node_text(n, LPARSE_MAX_TEXT);
        char *href = xpath_value(ctx, n, a->link, LPARSE_MAX_FIELD);
        e->link = absolute(href, base_url);
        free(href);
        char *when = xpath_value(ctx, n, a->time, 128);
        e->time_ms = lparse_time(when);
        free(when);
    }
    xmlXPathFreeObject(set);
    char *next = xpath_value(ctx, xmlDocGetRootElement(doc), a->next, LPARSE_MAX_FIELD);
    out->next = absolute(next, base_url);
    free(next);
    out->title = xpath_value(ctx, xmlDocGetRootElement(doc), "//title", LPARSE_MAX_FIELD);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return 0;
}

void lentries_free(struct lentries *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i].id);
        free(e->v[i].author);
        free(e->v[i].title);
        free(e->v[i].text);
        free(e->v[i].link);
    }
    free(e->v);
    free(e->next);
    free(e->title);
    memset(e, 0, sizeof *e);
}
