/* SPDX-License-Identifier: Apache-2.0 */
/* The sentiment analyser: language, tokens, scores (see analyse.h).  The
 * scoring follows VADER's shape (a sum of word valences on a -4..4 scale,
 * squashed to -1..1 by x/sqrt(x²+15)) with the Turkish rules added:
 * suffix-aware lemmas, -mA- negation, değil/yok turning the word before,
 * a negated neutral verb turning the word before (memnun kalmadım), çok /
 * aşırı / gerçekten boosting the next word, ama/fakat weighting the clause
 * after it, emoji from the Emoji Sentiment Ranking, and ! / ?? runs. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libexttextcat/textcat.h>
#include <unicode/uchar.h>
#include <unicode/ustring.h>
#include <unicode/utf8.h>

#include "analyse.h"

#define MAX_TOKENS 512
#define LANGID_BYTES 120   /* textcat reads the start only: enough to tell */
#define EVIDENCE_BYTES 300 /* the function words are counted in the start only */

struct sa_model {
    struct sa_lex *tr, *en;
    struct sa_lex *stop; /* function words: +1 English, -1 Turkish */
    struct sa_emoji *emoji;
    size_t nemoji;
    void *textcat;
    double thr;
    char folded[SA_TEXT_MAX * 6 + 16]; /* the text being analysed, folded */
    struct sa_memo memo_tr[SA_MEMO_SLOTS], memo_en[SA_MEMO_SLOTS];
};

static int stop_words_load(struct sa_lex *lx);

void sa_model_set_threshold(struct sa_model *m, double thr)
{
    m->thr = thr;
}

const struct sa_lex *sa_model_lex(const struct sa_model *m, const char *lang)
{
    return strcmp(lang, "tr") == 0 ? m->tr : m->en;
}

void sa_model_free(struct sa_model *m)
{
    if (!m)
        return;
    sa_lex_free(m->tr);
    sa_lex_free(m->en);
    sa_lex_free(m->stop);
    free(m->emoji);
    if (m->textcat)
        textcat_Done(m->textcat);
    free(m);
}

int sa_model_load(struct sa_model **out, const char *datadir, const char *langid_dir, char *err,
                  size_t errlen)
{
    struct sa_model *m = calloc(1, sizeof *m);
    char path[4096], prefix[4096];
    int rc = -ENOMEM;
    if (!m)
        return -ENOMEM;
    m->thr = 0.05;
    m->tr = sa_lex_new();
    m->en = sa_lex_new();
    m->stop = sa_lex_new();
    if (!m->tr || !m->en || !m->stop || stop_words_load(m->stop) < 0)
        goto fail;
#define DATA(f) (snprintf(path, sizeof path, "%s/%s", datadir, f), path)
    if ((rc = sa_lex_load_vader(m->en, DATA("vader_lexicon.txt"), err, errlen)) < 0 ||
        (rc = sa_lex_load_custom(m->en, DATA("en_custom.tsv"), err, errlen)) < 0 ||
        (rc = sa_lex_load_afinn(m->en, DATA("afinn_165.tsv"), err, errlen)) < 0 ||
        (rc = sa_lex_derive_en(m->en)) < 0 ||
        (rc = sa_lex_load_sentinet(m->tr, DATA("sentinet_tr.tsv"), err, errlen)) < 0 ||
        (rc = sa_lex_load_custom(m->tr, DATA("tr_custom.tsv"), err, errlen)) < 0 ||
        (rc = sa_emoji_load(&m->emoji, &m->nemoji, DATA("emoji_sentiment_ranking.csv"), err,
                            errlen)) < 0)
        goto fail;
    /* special_textcat_Init reads the fingerprint names in our list from
     * langid_dir (Debian's libexttextcat-data). */
    snprintf(prefix, sizeof prefix, "%s/", langid_dir);
    m->textcat = special_textcat_Init(DATA("langid.conf"), prefix);
    if (!m->textcat) {
        snprintf(err, errlen, "%s: libexttextcat could not load it or its fingerprints in %s", path,
                 langid_dir);
        rc = -ENOENT;
        goto fail;
    }
#undef DATA
    *out = m;
    return 0;
fail:
    sa_model_free(m);
    return rc;
}

/* ---- tokens ---- */

static int is_emoji(UChar32 c)
{
    return (c >= 0x1F000 && c <= 0x1FAFF) || (c >= 0x2600 && c <= 0x27BF) || c == 0x2764;
}

/* ASCII letters and digits, without ICU's property look-up. */
static const unsigned char ascii_alnum[128] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1,
    ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1,
    ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1,
    ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static inline int is_word_char(UChar32 c, int apostrophe)
{
    if (c < 0x80)
        return ascii_alnum[c] || (apostrophe && c == '\'');
    return u_isalnum(c) || (apostrophe && c == 0x2019);
}

/* An ASCII emoticon at s[i] (eyes : ; =, an optional nose - or tear ',
 * a mouth; or <3), read as the emoji it stands for so that the Emoji
 * Sentiment Ranking scores it: :) ☺, :( ☹, :d 😃, ;) 😉, :p 😛, :/ 😕,
 * :'( 😢, <3 ❤.  The text is folded (:D is :d).  A mouth followed by a
 * letter, a digit or a slash is no emoticon (http://, :pm, 10:30).
 * Returns the code point and sets *end, or 0. */
static unsigned emoticon(const char *s, int32_t i, int32_t len, int32_t *end)
{
    unsigned char c = (unsigned char)s[i];
    int32_t j = i + 1;
    unsigned cp = 0;
    if (c == '<') {
        cp = j < len && s[j] == '3' ? 0x2764 : 0;
    } else {
        int tear = 0;
        if (j < len && (s[j] == '-' || s[j] == '\''))
            tear = s[j++] == '\'';
        if (j >= len)
            return 0;
        switch (s[j]) {
        case ')':
        case ']':
            cp = tear ? 0 : c == ';' ? 0x1F609 : 0x263A;
            break;
        case '(':
        case '[':
            cp = tear ? 0x1F622 : c == ';' ? 0 : 0x2639;
            break;
        case 'd':
            cp = c == ';' || tear ? 0 : 0x1F603;
            break;
        case 'p':
            cp = tear ? 0 : 0x1F61B;
            break;
        case '/':
            cp = c == ':' && !tear ? 0x1F615 : 0;
            break;
        }
    }
    j++;
    if (!cp || (j < len &&
                ((unsigned char)s[j] < 0x80 && (ascii_alnum[(unsigned char)s[j]] || s[j] == '/'))))
        return 0;
    *end = j;
    return cp;
}

/* Splits folded UTF-8 into tokens.  English keeps apostrophes inside words
 * (don't); Turkish drops what follows one (Trendyol'dan: a case ending on
 * a proper noun). */
static size_t tokenize(const char *s, size_t len, int turkish, struct sa_token *tok, size_t max)
{
    size_t n = 0;
    int32_t i = 0, ilen = (int32_t)len;
    while (i < ilen && n < max) {
        int32_t start = i;
        UChar32 c;
        unsigned cp;
        int32_t emo_end;
        if ((unsigned char)s[i] < 0x80)
            c = (unsigned char)s[i++]; /* most text is ASCII: no decoding */
        else
            U8_NEXT(s, i, ilen, c);
        if (c < 0)
            continue;
        if (is_word_char(c, 0)) {
            /* The ASCII letters of a word in a tight loop first. */
            while (i < ilen && (unsigned char)s[i] < 0x80 && ascii_alnum[(unsigned char)s[i]])
                i++;
            int32_t end = i, j = i;
            int cut = 0;
            while (j < ilen) {
                int32_t k = j;
                UChar32 d;
                if ((unsigned char)s[k] < 0x80)
                    d = (unsigned char)s[k++];
                else
                    U8_NEXT(s, k, ilen, d);
                if (d < 0 || !is_word_char(d, 1))
                    break;
                if (d == '\'' || d == 0x2019) {
                    if (turkish)
                        cut = 1;
                } else if (!cut) {
                    end = k;
                }
                j = k;
            }
            i = j;
            if (end - start <= SA_TOKEN_MAX)
                tok[n++] = (struct sa_token){T_WORD, (unsigned short)start,
                                             (unsigned short)(end - start), 0};
        } else if (c == ' ') {
            ; /* the most common character between words, first */
        } else if ((c == ':' || c == ';' || c == '=' || c == '<') &&
                   (cp = emoticon(s, start, ilen, &emo_end)) != 0) {
            i = emo_end; /* not &i: the loop's index stays in a register */
            tok[n++] = (struct sa_token){T_EMOJI, 0, 0, cp};
        } else if (c == '!' || c == '?') {
            unsigned run = 1;
            while (i < ilen && s[i] == (char)c) {
                i++;
                run++;
            }
            tok[n++] = (struct sa_token){c == '!' ? T_EXCL : T_QUEST, 0, 0, run};
        } else if (c == '.' || c == ';' || c == '\n') {
            tok[n++] = (struct sa_token){T_BREAK, 0, 0, 0};
        } else if (c == ',') {
            tok[n++] = (struct sa_token){T_COMMA, 0, 0, 0};
        } else if (is_emoji(c)) {
            tok[n++] = (struct sa_token){T_EMOJI, 0, 0, (unsigned)c};
        }
    }
    return n;
}

/* ---- language ---- */

/* ğ ı ş İ (one pass over the first EVIDENCE_BYTES), and none of
 * Azerbaijani ə or Romanian ă ţ ș ț: Turkish.  Short Turkish texts are often taken for
 * another language by their n-grams alone. */
static int turkish_letters(const char *text, size_t len)
{
    int tr = 0;
    if (len > EVIDENCE_BYTES)
        len = EVIDENCE_BYTES; /* a Turkish text shows its letters early */
    for (size_t i = 0; i + 1 < len; i++) {
        uint64_t eight;
        if (i + 8 <= len && (memcpy(&eight, text + i, 8), !(eight & 0x8080808080808080ull))) {
            i += 7; /* eight ASCII bytes */
            continue;
        }
        unsigned char c = (unsigned char)text[i], d = (unsigned char)text[i + 1];
        if (c < 0xC4 || c > 0xC9)
            continue;
        if ((c == 0xC4 && (d == 0xB1 || d == 0xB0 || d == 0x9F || d == 0x9E)) ||
            (c == 0xC5 && (d == 0x9F || d == 0x9E)))
            tr = 1;
        else if ((c == 0xC9 && d == 0x99) || (c == 0xC4 && d == 0x83) || (c == 0xC5 && d == 0xA3) ||
                 (c == 0xC8 && (d == 0x99 || d == 0x9B)))
            return 0;
    }
    return tr;
}

/* Function words of each language that are rare in the other and in the
 * languages textcat would offer: the cheap evidence looked at first. */
static const char *const en_stop[] = {
    "is",      "it",    "i",     "not",  "to",   "are",   "be",    "have", "that", "on",
    "at",      "they",  "them",  "will", "had",  "has",   "been",  "were", "what", "if",
    "or",      "we",    "me",    "your", "our",  "their", "from",  "by",   "out",  "after",
    "there",   "one",   "about", "get",  "got",  "do",    "did",   "does", "than", "too",
    "only",    "all",   "no",    "so",   "can",  "an",    "which", "when", "who",  "how",
    "because", "these", "those", "any",  "some", "like",
};
/* English words that decide a short text alone (two points): frequent in
 * English, no word of the other languages textcat is asked about. */
static const char *const en_strong[] = {
    "the",     "and",     "this",      "was",   "with",    "my",        "you",
    "of",      "for",     "very",      "but",   "just",    "really",    "great",
    "good",    "love",    "excellent", "nice",  "bad",     "poor",      "works",
    "worked",  "product", "waste",     "money", "quality", "recommend", "would",
    "could",   "should",  "it's",      "i'm",   "i've",    "don't",     "didn't",
    "doesn't", "isn't",   "wasn't",    "can't", "won't",   "couldn't",  "wouldn't",
};
static const char *const tr_stop[] = {
    "ve",      "bir",     "bu",      "çok",     "için",     "ile",         "da",        "de",
    "mi",      "mı",      "mu",      "mü",      "ne",       "gibi",        "daha",      "ama",
    "var",     "yok",     "değil",   "kadar",   "sonra",    "önce",        "merhaba",   "lütfen",
    "ben",     "siz",     "biz",     "hiç",     "şu",       "ki",          "veya",      "hem",
    "gün",     "ürün",    "sipariş", "kargo",   "hala",     "hâlâ",        "neden",     "nasıl",
    "zaman",   "hizmet",  "güzel",   "iyi",     "teşekkür", "teşekkürler", "olarak",    "oldu",
    "misiniz", "musunuz", "mısınız", "müsünüz", "miyim",    "mıyım",       "muyum",     "kaç",
    "hangi",   "nerede",  "neler",   "tamam",   "evet",     "hayır",       "selam",     "ekte",
    "acaba",   "artık",   "hemen",   "yine",    "bile",     "şey",         "siparişim", "ürünü",
    "ücret",   "ücreti",  "gündür",  "geldi",   "gelmedi",  "bekliyorum",  "ediyorum",  "istiyorum",
    "numaram", "günler",  "olmuş",
};

static int stop_words_load(struct sa_lex *lx)
{
    struct sa_entry en = {1, 0, 0}, strong = {2, 0, 0}, tr = {-1, 0, 0};
    for (size_t i = 0; i < sizeof en_stop / sizeof *en_stop; i++)
        if (sa_lex_put(lx, en_stop[i], strlen(en_stop[i]), &en) < 0)
            return -ENOMEM;
    for (size_t i = 0; i < sizeof en_strong / sizeof *en_strong; i++)
        if (sa_lex_put(lx, en_strong[i], strlen(en_strong[i]), &strong) < 0)
            return -ENOMEM;
    for (size_t i = 0; i < sizeof tr_stop / sizeof *tr_stop; i++)
        if (sa_lex_put(lx, tr_stop[i], strlen(tr_stop[i]), &tr) < 0)
            return -ENOMEM;
    return 0;
}

/* Cheap evidence before textcat, whose n-gram ranking costs tens of
 * microseconds: counts the function words of each language in the first
 * EVIDENCE_BYTES (letters folded).  English: two points (a function word
 * one, a strong word or an -n't/'m/'ve/'ll/'re contraction two), its words
 * a quarter of the text, and Turkish ones at most an eighth of them;
 * Turkish likewise.  NULL when that does not decide. */
/* A name or a loan word of the other language (Ben, de) does not
 * overrule a text that is clearly one language. */
static int en_decides(int en, int hits, int tr, int n)
{
    return en >= 2 && hits * 4 >= n && tr * 8 <= hits;
}

static int tr_decides(int tr, int hits, int n)
{
    return tr >= 2 && tr * 4 >= n && hits * 8 <= tr;
}

static const char *stop_evidence(const struct sa_lex *stop, const char *text, size_t len)
{
    int n = 0, en = 0, hits = 0, tr = 0;
    char w[SA_TOKEN_MAX];
    if (len > EVIDENCE_BYTES)
        len = EVIDENCE_BYTES;
    for (size_t i = 0; i < len;) {
        while (
            i < len &&
            !(((unsigned char)text[i] | 0x20) >= 'a' && ((unsigned char)text[i] | 0x20) <= 'z') &&
            (unsigned char)text[i] < 0xC0)
            i++;
        size_t k = 0;
        while (i < len) {
            unsigned char c = (unsigned char)text[i];
            if (!((c | 0x20) >= 'a' && (c | 0x20) <= 'z') && c < 0x80 && c != '\'')
                break;
            /* Turkish capitals: Ç Ö Ü (C3 87/96/9C), Ğ Ş (C4 9E, C5 9E), İ. */
            if (c == 0xC3 && i + 1 < len &&
                ((unsigned char)text[i + 1] == 0x87 || (unsigned char)text[i + 1] == 0x96 ||
                 (unsigned char)text[i + 1] == 0x9C)) {
                if (k + 2 <= sizeof w) {
                    w[k++] = (char)c;
                    w[k++] = (char)(text[i + 1] + 0x20);
                }
                i += 2;
                continue;
            }
            if ((c == 0xC4 || c == 0xC5) && i + 1 < len && (unsigned char)text[i + 1] == 0x9E) {
                if (k + 2 <= sizeof w) {
                    w[k++] = (char)c;
                    w[k++] = (char)0x9F;
                }
                i += 2;
                continue;
            }
            if (c == 0xC4 && i + 1 < len && (unsigned char)text[i + 1] == 0xB0) {
                if (k < sizeof w)
                    w[k++] = 'i';
                i += 2;
                continue;
            }
            if (k < sizeof w)
                w[k++] = c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : (char)c;
            i++;
        }
        if (k == 0 || k >= sizeof w)
            continue;
        n++;
        const struct sa_entry *e = sa_lex_get(stop, w, k);
        if (e && e->score > 0) {
            en += (int)e->score;
            hits++;
        } else if (e) {
            tr++;
        } else if (k > 3 && (memcmp(w + k - 3, "n't", 3) == 0 || memcmp(w + k - 2, "'m", 2) == 0 ||
                             memcmp(w + k - 3, "'ve", 3) == 0 || memcmp(w + k - 3, "'ll", 3) == 0 ||
                             memcmp(w + k - 3, "'re", 3) == 0)) {
            en += 2;
            hits++;
        }
        /* Twelve words that decide are enough to read. */
        if (n >= 12 && (n % 4) == 0 && (en_decides(en, hits, tr, n) || tr_decides(tr, hits, n)))
            break;
    }
    if (en_decides(en, hits, tr, n))
        return "en";
    if (tr_decides(tr, hits, n))
        return "tr";
    return NULL;
}

/* A text too short for textcat: Turkish letters say Turkish; else the
 * language whose lexicon knows more of its words, if any. */
static int known(const struct sa_entry *e, int strict)
{
    return e && (!strict || e->score != 0 || (e->flags & ~SA_VERB));
}

static void identify_short(struct sa_model *m, const char *text, size_t len, char lang[8],
                           int strict)
{
    if (turkish_letters(text, len)) {
        strcpy(lang, "tr");
        return;
    }
    char f[1024];
    int fl = sa_fold(text, len > 300 ? 300 : len, "tr", f, sizeof f);
    if (fl < 0)
        return;
    struct sa_token tok[64];
    size_t n = tokenize(f, (size_t)fl, 0, tok, 64);
    int tr = 0, en = 0, words = 0;
    for (size_t i = 0; i < n; i++) {
        if (tok[i].kind != T_WORD)
            continue;
        words++;
        int ng, pv;
        const struct sa_entry *a = sa_tr_match(m->tr, f + tok[i].off, tok[i].len, &ng, &pv, NULL);
        const struct sa_entry *b = sa_lex_get(m->en, f + tok[i].off, tok[i].len);
        tr += known(a, strict);
        en += known(b, strict);
    }
    /* Overruling textcat takes polar words making a quarter of the text. */
    if (strict && (tr > en ? tr : en) * 4 < words)
        return;
    if (tr > en)
        strcpy(lang, "tr");
    else if (en > tr)
        strcpy(lang, "en");
}

static void identify(struct sa_model *m, const char *text, size_t len, char lang[8])
{
    strcpy(lang, "und");
    /* ı, ğ, ş, İ are Turkish: no n-gram count needed, and textcat is most
     * of the analyser's cost. */
    if (turkish_letters(text, len)) {
        strcpy(lang, "tr");
        return;
    }
    const char *ev = stop_evidence(m->stop, text, len);
    /* Azerbaijani shares bu, bir, çok, da: its ə leaves the choice to
     * textcat. */
    if (ev && ev[0] == 't' && memmem(text, len < EVIDENCE_BYTES ? len : EVIDENCE_BYTES, "ə", 2))
        ev = NULL;
    if (ev) {
        strcpy(lang, ev);
        return;
    }
    /* textcat reads a byte past the size it is given (valgrind: fp_Create,
     * exttextcat 3.4): it gets a copy that ends in a NUL, never the
     * caller's bytes, which need not. */
    char start[LANGID_BYTES + 1];
    size_t n = len > LANGID_BYTES ? LANGID_BYTES : len;
    memcpy(start, text, n);
    start[n] = '\0';
    const char *r = textcat_Classify(m->textcat, start, n);
    if (!r || r[0] != '[')
        return; /* SHORT or UNKNOWN: not readable */
    /* Close calls list several candidates, [tr--utf8][az--utf8]: Turkish
     * or English among them wins, as those are the languages we read. */
    if (strstr(r, "[tr-") || (!strstr(r, "[en-") && turkish_letters(text, len)))
        strcpy(lang, "tr");
    else if (strstr(r, "[en-"))
        strcpy(lang, "en");
    else if (len < 100 && (identify_short(m, text, len, lang, 1), strcmp(lang, "und") != 0))
        return; /* a short text whose words one of our lexicons knows */
    else {
        size_t k = strcspn(r + 1, "-]");
        if (k > 0 && k < 8) {
            memcpy(lang, r + 1, k);
            lang[k] = '\0';
        }
    }
}

/* ---- scoring ---- */

static const struct sa_entry *lookup(struct sa_model *m, const char *w, size_t len, int *neg,
                                     int *priv)
{
    int hit;
    struct sa_memo *ms = sa_memo_slot(m->memo_tr, w, len, sa_hash(w, len), &hit);
    if (hit) {
        *neg = ms->neg;
        *priv = ms->priv;
        return ms->e;
    }
    /* The whole word is the matcher's first stem tried. */
    const struct sa_entry *e = sa_tr_match(m->tr, w, len, neg, priv, NULL);
    if (ms) {
        *ms =
            (struct sa_memo){e, (unsigned char)len, (unsigned char)*neg, (unsigned char)*priv, {0}};
        memcpy(ms->key, w, len);
    }
    return e;
}

/* The nearest polar word before i within window tokens, stopping at a
 * sentence break; -1 if none. */
static int polar_before(const struct sa_token *tok, const float *val, int i, int window)
{
    for (int j = i - 1; j >= 0 && j >= i - window; j--) {
        if (tok[j].kind == T_BREAK || tok[j].kind == T_COMMA)
            break; /* sahte, orijinal değil: değil turns no word before the comma */
        if (val[j] != 0)
            return j;
    }
    return -1;
}

/* The Turkish rules; returns the sum of valences, *complaint_out the
 * complaint cues, *opinion_out the words of taste. */
static float score_turkish(struct sa_model *m, const char *f, struct sa_token *tok, size_t n,
                           int *complaint_out, int *opinion_out)
{
    int opinion = 0;
    float val[MAX_TOKENS] = {0};
    int contrast = -1, complaint = 0, excl = 0, quest = 0;
    float boost = 1;
    int boost_window = 0;
    for (size_t ui = 0; ui < n; ui++) {
        int i = (int)ui;
        struct sa_token *t = &tok[i];
        if (t->kind == T_BREAK) {
            boost_window = 0;
            continue;
        }
        if (t->kind == T_COMMA)
            continue;
        if (t->kind == T_EXCL) {
            excl += (int)t->cp;
            continue;
        }
        if (t->kind == T_QUEST) {
            quest = t->cp >= 2 ? 2 : quest;
            continue;
        }
        float v = 0;
        if (t->kind == T_EMOJI) {
            int found;
            v = 3 * sa_emoji_score(m->emoji, m->nemoji, t->cp, &found);
        } else {
            const char *w = f + t->off;
            int neg = 0, priv = 0;
            const struct sa_entry *e = NULL;
            /* A two-word entry first (para iadesi, customer service). */
            if (ui + 1 < n && tok[i + 1].kind == T_WORD &&
                tok[i + 1].off + tok[i + 1].len - t->off <= SA_TOKEN_MAX * 2 &&
                sa_lex_may_start_pair(m->tr, sa_hash(w, t->len))) {
                e = sa_lex_get(m->tr, w, (size_t)(tok[i + 1].off + tok[i + 1].len - t->off));
                if (e)
                    ui++;
            }
            if (!e)
                e = lookup(m, w, t->len, &neg, &priv);
            if (!e)
                goto next;
            opinion += (e->flags & SA_OPINION) != 0;
            if (e->flags & SA_CONTRAST) {
                contrast = i;
                goto next;
            }
            if (e->flags & SA_INTENS) {
                boost = e->score > 1 ? e->score : 1.5f;
                boost_window = 3;
                complaint += (e->flags & SA_COMPLAINT) != 0; /* hâlâ: still not */
                continue;
            }
            if (e->flags & SA_NEGATOR) {
                /* The word just before: iyi değil, sorun yok; gündür
                 * cevap yok does not turn gündür. */
                int j = polar_before(tok, val, i, 1);
                if (j >= 0) {
                    val[j] = -0.9f * val[j];
                } else {
                    val[i] = e->score; /* cevap yok */
                    if (e->flags & SA_COMPLAINT)
                        complaint++;
                }
                goto next;
            }
            if (neg && e->score == 0 && !(e->flags & SA_HASNEG)) {
                /* A negated neutral verb turns the word before it: memnun
                 * kalmadım, sorun yaşamadım. */
                int j = polar_before(tok, val, i, 3);
                if (j >= 0)
                    val[j] = -0.9f * val[j];
                goto next;
            }
            if (neg)
                v = (e->flags & SA_HASNEG) ? e->negscore : -0.8f * e->score;
            else
                v = e->score;
            if (priv)
                v = v != 0 ? -v : 0; /* sorunsuz, kalitesiz */
            /* sorunsuz (without a problem) is no complaint cue */
            if ((e->flags & SA_COMPLAINT) && !neg && !priv)
                complaint++;
            if ((e->flags & SA_NEGCOMPLAINT) && neg)
                complaint++;
        }
        if (boost_window > 0 && v != 0) {
            v *= boost;
            boost_window = 0;
        }
        val[i] = v;
    next:
        if (boost_window > 0)
            boost_window--;
    }
    float sum = 0;
    for (size_t i = 0; i < n; i++) {
        float w = 1;
        if (contrast >= 0)
            w = (int)i < contrast ? 0.5f : 1.5f;
        sum += val[i] * w;
    }
    /* Repeated punctuation: ! amplifies whichever way the text leans; a
     * ?? run in a message that is not praise is an impatient question. */
    if (sum != 0)
        sum += (sum > 0 ? 0.292f : -0.292f) * (float)(excl > 4 ? 4 : excl);
    if (quest == 2 && sum <= 0.5f)
        sum -= 0.8f;
    *complaint_out = complaint;
    *opinion_out = opinion;
    return sum;
}

/* English is lower-cased byte for byte (the lexicon is ASCII), so that the
 * folded words sit at the offsets of the words as written (ALL CAPS). */
static size_t fold_ascii(const char *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) { /* branchless: the compiler vectorises it */
        unsigned char c = (unsigned char)in[i];
        out[i] = (char)(c | (unsigned char)(((unsigned char)(c - 'A') < 26) << 5));
    }
    return len;
}

int sa_analyse(struct sa_model *m, const char *text, size_t len, const char *lang,
               struct sa_result *res)
{
    res->label = "neutral";
    res->score = 0;
    res->complaint = 0;
    if (lang)
        snprintf(res->lang, sizeof res->lang, "%s", lang);
    else {
        identify(m, text, len, res->lang);
        if (strcmp(res->lang, "und") == 0)
            identify_short(m, text, len, res->lang, 0);
    }
    int turkish = strcmp(res->lang, "tr") == 0;
    if (!turkish && strcmp(res->lang, "en") != 0)
        return 0; /* a language we do not read: neutral */
    if (len > SA_TEXT_MAX)
        len = SA_TEXT_MAX;
    int fl = turkish ? sa_fold(text, len, "tr", m->folded, sizeof m->folded)
                     : (int)fold_ascii(text, len, m->folded);
    if (fl < 0)
        return 0;
    struct sa_token tok[MAX_TOKENS];
    size_t n = tokenize(m->folded, (size_t)fl, turkish, tok, MAX_TOKENS);
    int complaint = 0, opinion = 0;
    double sum;
    if (turkish)
        sum = score_turkish(m, m->folded, tok, n, &complaint, &opinion);
    else
        sa_en_score(m->en, m->memo_en, m->emoji, m->nemoji, text, m->folded, tok, n, &sum,
                    &complaint);
    double score = sum / sqrt(sum * sum + 15.0);
    res->score = score;
    res->label = score >= m->thr ? "positive" : score <= -m->thr ? "negative" : "neutral";
    /* A cue (iade, gelmedi) counts unless the message is praise; two cues
     * (iadesi reddedildi, hâlâ ... gün oldu) unless it is clearly praise.
     * A clearly negative message is a complaint too, unless it judges a
     * matter of taste (logo, tasarım, pahalı, sıkıcı): criticism. */
    res->complaint = (complaint > 0 && score < m->thr) || (complaint >= 2 && score < 0.3) ||
                     (score <= -0.3 && !opinion);
    return 0;
}
