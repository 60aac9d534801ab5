/* SPDX-License-Identifier: Apache-2.0 */
/* Turkish: ICU case folding with the Turkish locale (İ->i, I->ı, and no
 * dotted/dotless confusion), and suffix-aware lemma matching.  A stemmer
 * such as Snowball over-stems Turkish (beğendim -> beğe, iade -> ia), so the
 * match goes the other way: the longest lexicon stem whose remainder parses
 * completely as a chain of known inflectional suffixes (every vowel-harmony
 * and consonant-assimilation form listed).  sevkiyat does not match sev,
 * since "kiyat" is no suffix chain.  Verbal negation -mA- (beğenmedim,
 * gelmiyor, ulaşamadım) is a suffix only verbs take; -sIz (sorunsuz) is
 * reported so the caller can turn the polarity. */
#include <string.h>

#include <unicode/ucasemap.h>
#include <unicode/ustring.h>

#include "analyse.h"

/* Turkish folding without ICU for the text customers write: ASCII (I is
 * ı), the Turkish letters in either case, â î û, and code points from
 * U+2000 on that have no case (punctuation, currency, arrows, emoji).
 * Anything else (another script, a combining dot, invalid UTF-8) returns
 * -2 and the caller folds with ICU, whose result this one equals
 * (tests/unit/test_sentiment.c compares them). */
static int fold_tr_fast(const unsigned char *in, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (o + 4 >= cap)
            return -1;
        unsigned char c = in[i];
        if (c < 0x80) {
            if (c == 'I') {
                out[o++] = (char)0xC4; /* ı */
                out[o++] = (char)0xB1;
            } else {
                out[o++] = (char)(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
            }
            i++;
            continue;
        }
        if (i + 1 >= len)
            return -2;
        unsigned char d = in[i + 1];
        if (c == 0xC3) {
            /* Ç Ö Ü -> ç ö ü; ç ö ü as they are; â î û Â Î Û -> a i u */
            if (d == 0x87 || d == 0x96 || d == 0x9C)
                d += 0x20;
            if (d == 0xA2 || d == 0x82)
                out[o++] = 'a';
            else if (d == 0xAE || d == 0x8E)
                out[o++] = 'i';
            else if (d == 0xBB || d == 0x9B)
                out[o++] = 'u';
            else if (d == 0xA7 || d == 0xB6 || d == 0xBC) {
                out[o++] = (char)c;
                out[o++] = (char)d;
            } else
                return -2;
            i += 2;
            continue;
        }
        if (c == 0xC4 && (d == 0x9E || d == 0x9F || d == 0xB1)) { /* Ğ ğ ı */
            out[o++] = (char)c;
            out[o++] = (char)(d == 0x9E ? 0x9F : d);
            i += 2;
            continue;
        }
        if (c == 0xC4 && d == 0xB0) { /* İ */
            out[o++] = 'i';
            i += 2;
            continue;
        }
        if (c == 0xC5 && (d == 0x9E || d == 0x9F)) { /* Ş ş */
            out[o++] = (char)c;
            out[o++] = (char)0x9F;
            i += 2;
            continue;
        }
        /* Three and four bytes: U+2000..U+20FF, U+2190..U+24B5, U+24D0..
         * U+2BFF, U+FE00..U+FE0F and U+1F000..U+1FAFF carry no case. */
        size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 0;
        if (n == 0 || i + n > len)
            return -2;
        unsigned cp = n == 3 ? (c & 0x0Fu) << 12 | (d & 0x3Fu) << 6 | (in[i + 2] & 0x3Fu)
                             : (c & 0x07u) << 18 | (d & 0x3Fu) << 12 | (in[i + 2] & 0x3Fu) << 6 |
                                   (in[i + 3] & 0x3Fu);
        for (size_t k = 1; k < n; k++)
            if ((in[i + k] & 0xC0) != 0x80)
                return -2;
        int caseless = (cp >= 0x2000 && cp <= 0x20FF) || (cp >= 0x2190 && cp <= 0x24B5) ||
                       (cp >= 0x24D0 && cp <= 0x2BFF) || (cp >= 0xFE00 && cp <= 0xFE0F) ||
                       (cp >= 0x1F000 && cp <= 0x1FAFF);
        /* An overlong form decodes below its range; leave it to ICU. */
        if (!caseless || (n == 4 && c != 0xF0))
            return -2;
        memcpy(out + o, in + i, n);
        o += n;
        i += n;
    }
    out[o] = '\0';
    return (int)o;
}

int sa_fold(const char *in, size_t len, const char *locale, char *out, size_t cap)
{
    if (len > SA_TEXT_MAX)
        len = SA_TEXT_MAX;
    if (strcmp(locale, "tr") == 0) {
        int n = fold_tr_fast((const unsigned char *)in, len, out, cap);
        if (n != -2)
            return n;
    }
    return sa_fold_icu(in, len, locale, out, cap);
}

int sa_fold_icu(const char *in, size_t len, const char *locale, char *out, size_t cap)
{
    UChar src[SA_TEXT_MAX + 8], low[SA_TEXT_MAX * 2 + 8];
    int32_t n16 = 0, nl = 0, n8 = 0;
    UErrorCode st = U_ZERO_ERROR;
    if (len > SA_TEXT_MAX)
        len = SA_TEXT_MAX; /* the caller bounds the text; this bounds the stack */
    u_strFromUTF8Lenient(src, SA_TEXT_MAX + 8, &n16, in, (int32_t)len, &st);
    if (U_FAILURE(st))
        return -1;
    nl = u_strToLower(low, SA_TEXT_MAX * 2 + 8, src, n16, locale, &st);
    if (U_FAILURE(st))
        return -1;
    if (strcmp(locale, "tr") == 0)
        for (int32_t i = 0; i < nl; i++) {
            if (low[i] == 0x00E2) /* â */
                low[i] = 'a';
            else if (low[i] == 0x00EE) /* î */
                low[i] = 'i';
            else if (low[i] == 0x00FB) /* û */
                low[i] = 'u';
        }
    u_strToUTF8(out, (int32_t)cap, &n8, low, nl, &st);
    if (U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING || (size_t)n8 >= cap)
        return -1;
    return n8;
}

enum { M_NEG = 1, M_PRIV = 2, M_VERBAL = 4, M_VNOUN = 8 };

struct morph {
    const char *s;
    unsigned char len, kind;
};

/* The table reads better packed. */
/* clang-format off */
#define M(x) {x, sizeof(x) - 1, 0}
#define N(x) {x, sizeof(x) - 1, M_NEG}
#define P(x) {x, sizeof(x) - 1, M_PRIV}
#define V(x) {x, sizeof(x) - 1, M_VERBAL}
#define VN(x) {x, sizeof(x) - 1, M_VNOUN}
/* Surface forms of inflectional and common derivational suffixes.  Order
 * does not matter: the parser tries every one that fits. */
static const struct morph morphs[] = {
    /* plural, possessive, case */
    M("lar"), M("ler"), M("ım"), M("im"), M("um"), M("üm"), M("m"), M("ın"), M("in"), M("un"),
    M("ün"), M("n"), M("ı"), M("i"), M("u"), M("ü"), M("sı"), M("si"), M("su"), M("sü"),
    M("ımız"), M("imiz"), M("umuz"), M("ümüz"), M("mız"), M("miz"), M("muz"), M("müz"),
    M("ınız"), M("iniz"), M("unuz"), M("ünüz"), M("nız"), M("niz"), M("nuz"), M("nüz"),
    M("a"), M("e"), M("ya"), M("ye"), M("na"), M("ne"), M("da"), M("de"), M("ta"), M("te"),
    M("nda"), M("nde"), M("dan"), M("den"), M("tan"), M("ten"), M("ndan"), M("nden"),
    M("yı"), M("yi"), M("yu"), M("yü"), M("nı"), M("ni"), M("nu"), M("nü"), M("la"), M("le"),
    M("yla"), M("yle"), M("ca"), M("ce"), M("ça"), M("çe"), M("yken"), M("ken"),
    /* derivation */
    M("lık"), M("lik"), M("luk"), M("lük"), M("lı"), M("li"), M("lu"), M("lü"), M("cı"), M("ci"),
    M("cu"), M("cü"), M("çı"), M("çi"), M("çu"), M("çü"), P("sız"), P("siz"), P("suz"),
    P("süz"), M("laş"), M("leş"), M("lan"), M("len"), M("la"), M("le"),
    /* copula and person */
    M("dır"), M("dir"), M("dur"), M("dür"), M("tır"), M("tir"), M("tur"), M("tür"), V("yım"),
    V("yim"), M("yum"), M("yüm"), V("yız"), V("yiz"), M("yuz"), M("yüz"), V("sın"), V("sin"),
    V("sun"), V("sün"), M("sınız"), M("siniz"), M("sunuz"), M("sünüz"), M("ız"), M("iz"),
    M("uz"), M("üz"), M("k"), V("z"), M("ydı"), M("ydi"), M("ydu"), M("ydü"), M("ymış"),
    M("ymiş"), M("ymuş"), M("ymüş"), M("ysa"), M("yse"),
    /* voice */
    M("ıl"), M("il"), M("ul"), M("ül"), M("l"), M("t"), M("ış"), M("iş"), M("uş"), M("üş"),
    /* tense, aspect, mood */
    V("dı"), V("di"), V("du"), V("dü"), V("tı"), V("ti"), V("tu"), V("tü"), V("yor"),
    M("ıyor"), M("iyor"), M("uyor"), M("üyor"), V("mış"), V("miş"), V("muş"), V("müş"),
    M("acak"), M("ecek"), V("yacak"), V("yecek"), M("acağ"), M("eceğ"), V("yacağ"), V("yeceğ"),
    M("ır"), M("ir"), M("ur"), M("ür"), M("ar"), M("er"), M("r"), V("sa"), V("se"),
    VN("ma"), VN("me"), V("malı"), V("meli"), V("mak"), V("mek"), V("makta"), V("mekte"), V("ması"), V("mesi"),
    V("mayı"), V("meyi"), V("maya"), V("meye"), M("an"), M("en"), V("yan"), V("yen"),
    V("dık"), V("dik"), V("duk"), V("dük"), V("tık"), V("tik"), V("tuk"), V("tük"), V("dığ"),
    V("diğ"), V("duğ"), V("düğ"), V("tığ"), V("tiğ"), V("tuğ"), V("tüğ"), M("ıp"), M("ip"),
    M("up"), M("üp"), V("yıp"), V("yip"), M("arak"), M("erek"), V("yarak"), V("yerek"),
    M("ınca"), M("ince"), M("unca"), M("ünce"), V("yınca"), V("yince"), M("abil"), M("ebil"),
    V("yabil"), V("yebil"), M("sana"), M("sene"),
    /* verbal negation -mA- and the negative abilitative -(y)AmA- */
    N("ma"), N("me"), N("mı"), N("mi"), N("mu"), N("mü"), N("maz"), N("mez"), N("ama"),
    N("eme"), N("yama"), N("yeme"), N("amı"), N("emi"), N("yamı"), N("yemi"), N("amaz"),
    N("emez"), N("yamaz"), N("yemez"), N("madan"), N("meden"), N("amadan"), N("emeden"),
    N("yamadan"), N("yemeden"),
};
/* clang-format on */
#define NMORPHS (sizeof morphs / sizeof morphs[0])

/* Splits s[0..len) into morphs with the fewest morphs (dynamic
 * programming from the end), so that gelmedi reads gel-me-di, not
 * gel-m-e-di, and gelmek reads gel-mek, not gel-me-k; on a tie the parse
 * without -mA- wins.  allow_neg admits -mA- (verbs only).  Returns the
 * morph count, 0 when s does not split; *kinds collects the kinds used. */
static int is_vowel_at(const char *w, size_t end) /* the letter ending at w[end) */
{
    if (end == 0)
        return 0;
    unsigned char c = (unsigned char)w[end - 1];
    if (c < 0x80)
        return strchr("aeiou", c) != NULL && c;
    if (end < 2)
        return 0;
    unsigned char b = (unsigned char)w[end - 2];
    return (b == 0xC4 && c == 0xB1) || (b == 0xC3 && (c == 0xB6 || c == 0xBC)); /* ı ö ü */
}

/* Turkish phonotactics prune false parses: a one-letter consonant suffix
 * (-m, -n, -k, -t) follows a vowel (sev-k-i-ya-t is no word), and a
 * vowel-initial suffix follows a consonant (a vowel stem takes the
 * buffer-consonant form: iade-yi, not iade-i). */
static int fits(const char *w, size_t at, const struct morph *m)
{
    int vowel_before = is_vowel_at(w, at);
    if (is_vowel_at(m->s, (unsigned char)m->s[0] < 0x80 ? 1 : 2))
        return !vowel_before;
    if (m->len == 1)
        return vowel_before;
    return 1;
}

/* The morphs by their first byte, so that a position tries the few that
 * can start there; each list ends with NO_MORPH.  Built once, on first use
 * (the analyser runs on one thread). */
#define NO_MORPH 0xFFFF
static unsigned short by_first[256][64];

static void index_morphs(void)
{
    static int done;
    if (done)
        return;
    unsigned char n[256] = {0};
    memset(by_first, 0xFF, sizeof by_first);
    for (size_t i = 0; i < NMORPHS; i++) {
        unsigned char c = (unsigned char)morphs[i].s[0];
        if (n[c] < 63)
            by_first[c][n[c]++] = (unsigned short)i;
    }
    done = 1;
}

static int parse_chain(const char *w, size_t off, size_t len, int allow_neg, unsigned *kinds)
{
    const char *s = w + off;
    index_morphs();
    unsigned char best[SA_TOKEN_MAX + 1], kind[SA_TOKEN_MAX + 1], first[SA_TOKEN_MAX + 1];
    if (len == 0 || len > SA_TOKEN_MAX)
        return 0;
    best[len] = 0;
    kind[len] = first[len] = 0;
    for (size_t p = len; p-- > 0;) {
        best[p] = 255;
        kind[p] = first[p] = 0;
        const unsigned short *idx = by_first[(unsigned char)s[p]];
        for (size_t j = 0; idx[j] != NO_MORPH; j++) {
            const struct morph *m = &morphs[idx[j]];
            if (m->len > len - p || ((m->kind & M_NEG) && !allow_neg) || best[p + m->len] == 255 ||
                memcmp(s + p, m->s, m->len) != 0 || !fits(w, off + p, m))
                continue;
            /* -mA- (negation) and -mA (the verbal noun: çalışma saatleri)
             * look alike; negation is followed by a verbal suffix
             * (gelme-di, beğenme-yecek) or ends an imperative after -mı-. */
            if ((m->kind & M_NEG) && strchr("ae", m->s[m->len - 1]) &&
                (p + m->len == len || !(first[p + m->len] & M_VERBAL)))
                continue;
            if ((m->kind & M_VNOUN) && p + m->len < len && (first[p + m->len] & M_VERBAL))
                continue; /* the verbal noun takes no tense: gelme-di is negation */
            unsigned c = 1u + best[p + m->len];
            unsigned k = kind[p + m->len] | m->kind;
            if (c < best[p] || (c == best[p] && !(k & M_NEG) && (kind[p] & M_NEG))) {
                best[p] = (unsigned char)c;
                kind[p] = (unsigned char)k;
                first[p] = m->kind;
            }
        }
    }
    if (best[0] == 255)
        return 0;
    *kinds = kind[0];
    return best[0];
}

static int utf8_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* The stem as written may end in a voiced consonant the lexicon spells
 * voiceless: dert -> derdi, renk -> rengi, ağaç -> ağacı.  h[k] is the hash
 * of w's first k bytes. */
static const struct sa_entry *get_stem(const struct sa_lex *lx, const char *w, size_t k,
                                       const unsigned long long *h)
{
    const struct sa_entry *e = sa_lex_get_hashed(lx, w, k, h[k]);
    if (e || k < 2 || k > SA_TOKEN_MAX)
        return e;
    char buf[SA_TOKEN_MAX + 2];
    unsigned char last = (unsigned char)w[k - 1];
    if (last == 'b' || last == 'd' || last == 'g') {
        memcpy(buf, w, k);
        buf[k - 1] = last == 'b' ? 'p' : last == 'd' ? 't' : 'k';
        return sa_lex_get_hashed(lx, buf, k, sa_hash_step(h[k - 1], (unsigned char)buf[k - 1]));
    }
    if (k >= 3 && memcmp(w + k - 2, "ğ", 2) == 0) { /* ğ -> k */
        memcpy(buf, w, k);
        buf[k - 2] = 'k';
        return sa_lex_get_hashed(lx, buf, k - 1, sa_hash_step(h[k - 2], 'k'));
    }
    if (k >= 2 && last == 'c') { /* c -> ç */
        memcpy(buf, w, k);
        memcpy(buf + k - 1, "ç", 2);
        unsigned long long hc = sa_hash_step(sa_hash_step(h[k - 1], 0xC3), 0xA7);
        return sa_lex_get_hashed(lx, buf, k + 1, hc);
    }
    return NULL;
}

const struct sa_entry *sa_tr_match(const struct sa_lex *lx, const char *word, size_t len,
                                   int *negated, int *privative, size_t *stem_len)
{
    *negated = *privative = 0;
    if (len == 0 || len > SA_TOKEN_MAX)
        return NULL;
    /* Stems of at least 2 letters (3 bytes covers "iyi"-like short
     * stems while keeping one-letter noise out). */
    index_morphs();
    unsigned long long h[SA_TOKEN_MAX + 1];
    h[0] = SA_HASH_INIT;
    for (size_t i = 0; i < len; i++)
        h[i + 1] = sa_hash_step(h[i], (unsigned char)word[i]);
    for (size_t k = len; k >= 2; k--) {
        if (k < len && utf8_cont((unsigned char)word[k]))
            continue; /* not a character boundary */
        if (k < len && by_first[(unsigned char)word[k]][0] == NO_MORPH)
            continue; /* no suffix starts with this letter: no look-up */
        const struct sa_entry *e = get_stem(lx, word, k, h);
        if (!e)
            continue;
        /* sevme-dim is sev- negated, not the noun sevme (love): a stem
         * ending in -mA over a verb defers to the verb. */
        if (k > 4 && k < len &&
            (memcmp(word + k - 2, "ma", 2) == 0 || memcmp(word + k - 2, "me", 2) == 0)) {
            const struct sa_entry *v = sa_lex_get_hashed(lx, word, k - 2, h[k - 2]);
            if (v && (v->flags & SA_VERB))
                continue;
        }
        unsigned kinds = 0;
        if (k < len && !parse_chain(word, k, len - k, (e->flags & SA_VERB) != 0, &kinds))
            continue;
        *negated = (kinds & M_NEG) != 0;
        *privative = (kinds & M_PRIV) != 0;
        if (stem_len)
            *stem_len = k;
        return e;
    }
    return NULL;
}
