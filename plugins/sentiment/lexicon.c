/* SPDX-License-Identifier: Apache-2.0 */
/* The sentiment analyser's word lists: an open-addressing hash table from
 * folded word to entry, the loaders of each data file's format
 * (data/README.md), and the emoji table (sorted, searched by code point). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyse.h"

struct slot {
    char *key; /* NULL: empty */
    size_t len;
    struct sa_entry e;
};

#define PAIR_BITS 4096

struct sa_lex {
    struct slot *slots;
    size_t cap, n;                  /* cap is a power of two, kept at most half full */
    uint64_t pairs[PAIR_BITS / 64]; /* hash bits of the first words of two-word keys */
    struct sa_lex *derived;         /* English: sa_lex_derive_en's words, or NULL */
};

static uint64_t hash(const char *s, size_t len)
{
    return sa_hash(s, len); /* FNV-1a */
}

struct sa_lex *sa_lex_new(void)
{
    struct sa_lex *lx = calloc(1, sizeof *lx);
    if (!lx)
        return NULL;
    lx->cap = 1024;
    lx->slots = calloc(lx->cap, sizeof *lx->slots);
    if (!lx->slots) {
        free(lx);
        return NULL;
    }
    return lx;
}

void sa_lex_free(struct sa_lex *lx)
{
    if (!lx)
        return;
    for (size_t i = 0; i < lx->cap; i++)
        free(lx->slots[i].key);
    free(lx->slots);
    sa_lex_free(lx->derived);
    free(lx);
}

size_t sa_lex_count(const struct sa_lex *lx)
{
    return lx->n;
}

static struct slot *find_hashed(const struct sa_lex *lx, const char *key, size_t len, uint64_t h)
{
    size_t i = h & (lx->cap - 1);
    for (;;) {
        struct slot *s = &lx->slots[i];
        if (!s->key || (s->len == len && memcmp(s->key, key, len) == 0))
            return s;
        i = (i + 1) & (lx->cap - 1);
    }
}

static struct slot *find(const struct sa_lex *lx, const char *key, size_t len)
{
    return find_hashed(lx, key, len, hash(key, len));
}

static int grow(struct sa_lex *lx)
{
    struct sa_lex bigger = {
        calloc(lx->cap * 2, sizeof(struct slot)), lx->cap * 2, lx->n, {0}, lx->derived};
    if (!bigger.slots)
        return -ENOMEM;
    memcpy(bigger.pairs, lx->pairs, sizeof bigger.pairs);
    for (size_t i = 0; i < lx->cap; i++)
        if (lx->slots[i].key)
            *find(&bigger, lx->slots[i].key, lx->slots[i].len) = lx->slots[i];
    free(lx->slots);
    *lx = bigger;
    return 0;
}

/* A later put of the same key replaces the entry: the custom lists are
 * loaded last and override the lexicons. */
int sa_lex_put(struct sa_lex *lx, const char *key, size_t len, const struct sa_entry *e)
{
    if (len == 0 || len > SA_TOKEN_MAX * 2)
        return 0;
    if ((lx->n + 1) * 2 > lx->cap && grow(lx) < 0)
        return -ENOMEM;
    const char *sp = memchr(key, ' ', len);
    if (sp) {
        uint64_t h = hash(key, (size_t)(sp - key)) % PAIR_BITS;
        lx->pairs[h / 64] |= 1ull << (h % 64);
    }
    struct slot *s = find(lx, key, len);
    if (!s->key) {
        s->key = malloc(len + 1);
        if (!s->key)
            return -ENOMEM;
        memcpy(s->key, key, len);
        s->key[len] = '\0';
        s->len = len;
        lx->n++;
    }
    s->e = *e;
    return 0;
}

const struct sa_entry *sa_lex_get(const struct sa_lex *lx, const char *key, size_t len)
{
    if (!lx || len == 0)
        return NULL;
    const struct slot *s = find(lx, key, len);
    return s->key ? &s->e : NULL;
}

const struct sa_entry *sa_lex_get_hashed(const struct sa_lex *lx, const char *key, size_t len,
                                         unsigned long long h)
{
    if (!lx || len == 0)
        return NULL;
    const struct slot *s = find_hashed(lx, key, len, h);
    return s->key ? &s->e : NULL;
}

int sa_lex_may_start_pair(const struct sa_lex *lx, unsigned long long word_hash)
{
    uint64_t h = word_hash % PAIR_BITS;
    return (lx->pairs[h / 64] >> (h % 64)) & 1;
}

struct sa_memo *sa_memo_slot(struct sa_memo *tab, const char *w, size_t len, unsigned long long h,
                             int *hit)
{
    *hit = 0;
    if (len == 0 || len > SA_MEMO_KEY)
        return NULL;
    struct sa_memo *s = &tab[h & (SA_MEMO_SLOTS - 1)];
    *hit = s->len == len && memcmp(s->key, w, len) == 0;
    return s;
}

static FILE *open_data(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return f;
}

/* vader_lexicon.txt: word TAB mean TAB sd TAB ratings. */
int sa_lex_load_vader(struct sa_lex *lx, const char *path, char *err, size_t errlen)
{
    FILE *f = open_data(path, err, errlen);
    if (!f)
        return -ENOENT;
    char line[512];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        struct sa_entry e = {strtof(tab + 1, NULL), 0, 0};
        rc = sa_lex_put(lx, line, (size_t)(tab - line), &e);
    }
    fclose(f);
    return rc;
}

/* Whether an AFINN phrase says what VADER's rules do not: not a phrase of
 * three words or more (english.c looks up pairs of words), nor one whose
 * first word is a negator (not good, dont like, no fun: the negation rule
 * reads them), which would only cost each of those frequent words a
 * look-up of a pair. */
static int afinn_phrase_adds(const struct sa_lex *lx, const char *key, size_t len)
{
    const char *sp = memchr(key, ' ', len);
    if (!sp)
        return 1;
    if (memchr(sp + 1, ' ', len - (size_t)(sp + 1 - key)))
        return 0;
    size_t first = (size_t)(sp - key);
    const struct sa_entry *e = sa_lex_get(lx, key, first);
    return !(e && (e->flags & SA_NEGATOR)) && !(first == 2 && memcmp(key, "no", 2) == 0);
}

/* afinn_165.tsv: word TAB valence, -5..5 integers.  Only words the
 * lexicon does not hold yet are added (VADER's ratings stay), at AFINN's
 * valence times SA_AFINN_SCALE: the least-squares slope through the origin
 * of VADER's mean rating on AFINN's valence over the 2648 words both list.
 * Valence 0 (kind of) says nothing and is left out, so that such a word
 * still reaches the lemma fallback.  Read after en_custom.tsv, whose
 * negators the phrase filter needs; adding only absent words, it leaves
 * the custom list's entries as they are. */
int sa_lex_load_afinn(struct sa_lex *lx, const char *path, char *err, size_t errlen)
{
    FILE *f = open_data(path, err, errlen);
    if (!f)
        return -ENOENT;
    char line[512];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        size_t len = (size_t)(tab - line);
        float v = strtof(tab + 1, NULL);
        if (v == 0 || sa_lex_get(lx, line, len) || !afinn_phrase_adds(lx, line, len))
            continue;
        struct sa_entry e = {v * SA_AFINN_SCALE, 0, 0};
        rc = sa_lex_put(lx, line, len, &e);
    }
    fclose(f);
    return rc;
}

/* English derivations of the lexicon's polar words that it does not list
 * itself: un-, dis- and non- before a word, and -less after one, turn it
 * (unhelpful, uninteresting, thankless) by SA_DERIVE_SCALE, the way a
 * negator does.  Made once after every list is loaded, so that a listed
 * word (disappointing, painless) keeps its rating, into a table of their
 * own beside the lexicon: the lexicon's table stays as small as it was
 * (its look-ups as quick), and the derived table is read only for a word
 * the lexicon lacks that has such an affix.  Only plain polar words of
 * four letters or more are derived from: no boosters, negators, contrast
 * words or phrases. */
int sa_lex_derive_en(struct sa_lex *lx)
{
    static const struct {
        const char *affix;
        int prefix;
    } affixes[] = {{"un", 1}, {"dis", 1}, {"non", 1}, {"less", 0}};
    struct sa_lex *d = sa_lex_new();
    if (!d)
        return -ENOMEM;
    int rc = 0;
    char buf[SA_TOKEN_MAX + 8];
    for (size_t i = 0; rc == 0 && i < lx->cap; i++) {
        const struct slot *s = &lx->slots[i];
        if (!s->key || s->len < 4 || s->len + 4 > SA_TOKEN_MAX || s->e.score == 0 ||
            (s->e.flags & (SA_BOOST | SA_NEGATOR | SA_CONTRAST | SA_INTENS)) ||
            memchr(s->key, ' ', s->len))
            continue;
        for (size_t a = 0; rc == 0 && a < sizeof affixes / sizeof *affixes; a++) {
            size_t al = strlen(affixes[a].affix), len = s->len;
            if (affixes[a].prefix) {
                memcpy(buf, affixes[a].affix, al);
                memcpy(buf + al, s->key, len);
            } else {
                memcpy(buf, s->key, len);
                memcpy(buf + len, affixes[a].affix, al);
            }
            if (sa_lex_get(lx, buf, len + al))
                continue;
            struct sa_entry e = {s->e.score * SA_DERIVE_SCALE, 0, 0};
            rc = sa_lex_put(d, buf, len + al, &e);
        }
    }
    if (rc < 0) {
        sa_lex_free(d);
        return rc;
    }
    sa_lex_free(lx->derived);
    lx->derived = d;
    return 0;
}

const struct sa_lex *sa_lex_derived(const struct sa_lex *lx)
{
    return lx ? lx->derived : NULL;
}

/* sentinet_tr.tsv: word TAB pscore TAB nscore, each 0..1.  Verbs are
 * listed with -mAk; the suffix matcher finds their stems, so the stem is
 * stored (flagged a verb) beside the infinitive. */
int sa_lex_load_sentinet(struct sa_lex *lx, const char *path, char *err, size_t errlen)
{
    FILE *f = open_data(path, err, errlen);
    if (!f)
        return -ENOENT;
    char line[512];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        char *t1 = strchr(line, '\t');
        char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2)
            continue;
        float p = strtof(t1 + 1, NULL), n = strtof(t2 + 1, NULL);
        /* Weak literals are mostly noise in everyday text. */
        if (p - n < 0.25f && n - p < 0.25f)
            continue;
        size_t len = (size_t)(t1 - line);
        struct sa_entry e = {(p - n) * 2.5f, 0, 0};
        rc = sa_lex_put(lx, line, len, &e);
        /* Short stems (yer- of yermek, yıl- of yılmak) are mostly other
         * words' homographs; the custom list has the short verbs that
         * matter. */
        if (rc == 0 && len >= 7 &&
            (memcmp(line + len - 3, "mak", 3) == 0 || memcmp(line + len - 3, "mek", 3) == 0)) {
            e.flags = SA_VERB;
            rc = sa_lex_put(lx, line, len - 3, &e);
        }
    }
    fclose(f);
    return rc;
}

static unsigned parse_tags(char *tags, float *negscore)
{
    unsigned flags = 0;
    for (char *save = NULL, *t = strtok_r(tags, ", \r\n", &save); t;
         t = strtok_r(NULL, ", \r\n", &save)) {
        if (strcmp(t, "verb") == 0)
            flags |= SA_VERB;
        else if (strcmp(t, "complaint") == 0)
            flags |= SA_COMPLAINT;
        else if (strcmp(t, "negcomplaint") == 0)
            flags |= SA_NEGCOMPLAINT | SA_VERB;
        else if (strcmp(t, "intens") == 0)
            flags |= SA_INTENS;
        else if (strcmp(t, "negator") == 0)
            flags |= SA_NEGATOR;
        else if (strcmp(t, "contrast") == 0)
            flags |= SA_CONTRAST;
        else if (strcmp(t, "boost") == 0)
            flags |= SA_BOOST;
        else if (strcmp(t, "opinion") == 0)
            flags |= SA_OPINION;
        else if (strncmp(t, "neg=", 4) == 0) {
            flags |= SA_HASNEG | SA_VERB;
            *negscore = strtof(t + 4, NULL);
        }
    }
    return flags;
}

/* Vowel harmony: whether the last vowel of w is a back one (a ı o u), which
 * takes -mak; front ones (e i ö ü) take -mek. */
static int last_vowel_is_back(const char *w, size_t len)
{
    for (size_t i = len; i-- > 0;) {
        unsigned char c = (unsigned char)w[i], p = i ? (unsigned char)w[i - 1] : 0;
        if (c == 'a' || c == 'o' || c == 'u' || (p == 0xC4 && c == 0xB1))
            return 1;
        if (c == 'e' || c == 'i' || (p == 0xC3 && (c == 0xB6 || c == 0xBC)))
            return 0;
    }
    return 0;
}

/* *_custom.tsv: lemma TAB score [TAB tags]; '#' comments. */
int sa_lex_load_custom(struct sa_lex *lx, const char *path, char *err, size_t errlen)
{
    FILE *f = open_data(path, err, errlen);
    if (!f)
        return -ENOENT;
    char line[512];
    int rc = 0, lineno = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *t1 = strchr(line, '\t');
        if (!t1) {
            snprintf(err, errlen, "%s:%d: no TAB after the lemma", path, lineno);
            rc = -EINVAL;
            break;
        }
        char *t2 = strchr(t1 + 1, '\t');
        struct sa_entry e = {strtof(t1 + 1, NULL), 0, 0};
        if (t2)
            e.flags = parse_tags(t2 + 1, &e.negscore);
        size_t len = (size_t)(t1 - line);
        rc = sa_lex_put(lx, line, len, &e);
        if (rc == 0 && (e.flags & SA_VERB) && len + 4 < sizeof line && !memchr(line, ' ', len)) {
            /* The infinitive too, so that the lexicon's own entry for it
             * (ulaşmak) does not win over this one. */
            int back = last_vowel_is_back(line, len);
            memcpy(line + len, back ? "mak" : "mek", 3);
            rc = sa_lex_put(lx, line, len + 3, &e);
        }
    }
    fclose(f);
    return rc;
}

static int cmp_emoji(const void *a, const void *b)
{
    unsigned x = ((const struct sa_emoji *)a)->cp, y = ((const struct sa_emoji *)b)->cp;
    return x < y ? -1 : x > y;
}

/* Emoji_Sentiment_Data_v1.0.csv: emoji,0xCODEPOINT,occurrences,position,
 * negative,neutral,positive,name,block.  Score: (positive - negative) /
 * occurrences, -1..1; emoji seen fewer than 5 times are left out. */
int sa_emoji_load(struct sa_emoji **out, size_t *n, const char *path, char *err, size_t errlen)
{
    FILE *f = open_data(path, err, errlen);
    if (!f)
        return -ENOENT;
    struct sa_emoji *tab = NULL;
    size_t cnt = 0, cap = 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *c1 = strchr(line, ',');
        if (!c1 || strncmp(c1 + 1, "0x", 2) != 0)
            continue;
        char *end;
        unsigned long cp = strtoul(c1 + 3, &end, 16);
        double occ, pos, neu, neg;
        if (*end != ',' || sscanf(end + 1, "%lf,%*f,%lf,%lf,%lf", &occ, &neg, &neu, &pos) != 4 ||
            occ < 5)
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 256;
            struct sa_emoji *nt = realloc(tab, cap * sizeof *nt);
            if (!nt) {
                free(tab);
                fclose(f);
                return -ENOMEM;
            }
            tab = nt;
        }
        tab[cnt].cp = (unsigned)cp;
        tab[cnt++].score = (float)((pos - neg) / occ);
    }
    fclose(f);
    qsort(tab, cnt, sizeof *tab, cmp_emoji);
    *out = tab;
    *n = cnt;
    return 0;
}

float sa_emoji_score(const struct sa_emoji *tab, size_t n, unsigned cp, int *found)
{
    struct sa_emoji key = {cp, 0};
    const struct sa_emoji *e = tab ? bsearch(&key, tab, n, sizeof *tab, cmp_emoji) : NULL;
    *found = e != NULL;
    return e ? e->score : 0;
}
