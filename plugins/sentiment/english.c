/* SPDX-License-Identifier: Apache-2.0 */
/* English scoring: VADER's rules (Hutto and Gilbert, ICWSM 2014, as the
 * reference implementation vaderSentiment 3.3 applies them) over the
 * tokens of a text, with kanal's complaint cues and a lemma fallback for
 * inflected forms the VADER lexicon does not list.
 *
 * - A word's valence is its lexicon score; boosters and dampeners (very,
 *   slightly: data/en_custom.tsv, tag `boost`) carry none themselves.
 * - A word in ALL CAPS among words that are not gets 0.733 more emphasis.
 * - Each of the three words before it that is not itself a polar word
 *   adds its booster scalar (0.293, dampeners -0.293, in the valence's
 *   direction; 0.95 and 0.9 of it for the second and third word), and a
 *   negator there (not, never, -n't, without, ...) multiplies the valence
 *   by -0.74; "never so/this" multiplies it by 1.25 instead and "without
 *   doubt" leaves it.
 * - "no" before a polar word is no valence of its own but turns the polar
 *   word (and the one after it) by -0.74; "least" turns the next word
 *   unless it reads "at least" or "very least".
 * - kanal's additions: "too" before a word that says nothing itself is a
 *   fault (too big); a negated comparative after "could ... be" is praise
 *   (couldn't be happier).
 * - Words before the first "but" count half, words after it one and a half.
 * - A text without a polar word that is negated leans negative: -0.5 a
 *   negator (the tie-break for a sum of exactly 0).
 * - ! (up to four: 0.292 each) and a run of ? (0.18 each up to three, 0.96
 *   beyond) push the sum further the way it leans.
 * - Words VADER lacks: AFINN-165's (lexicon.c), a lemma (disappointing,
 *   stopped), a derivation of a polar word by un-, dis-, non- or -less
 *   (unhelpful), an elongated word cut back (goooood); ASCII emoticons
 *   are the emoji they stand for (analyse.c).
 * The caller squashes the sum to -1..1 with x / sqrt(x² + 15). */
#include <string.h>

#include "analyse.h"

#define C_INCR 0.733f   /* ALL-CAPS emphasis */
#define N_SCALAR -0.74f /* a negator's effect */
#define MAX_WORDS 512
#define NEG_LEAN -0.5f

static int entry_polar(const struct sa_entry *e)
{
    return e && e->score != 0 && !(e->flags & (SA_BOOST | SA_NEGATOR | SA_CONTRAST));
}

struct lemma_rule {
    const char *strip, *add; /* suffix, and what the stem ends in without it */
    unsigned char sl, al;
};
#define R(s, a)                            \
    {                                      \
        s, a, sizeof(s) - 1, sizeof(a) - 1 \
    }
static const struct lemma_rule rules[] = {
    R("'s", ""),   R("’s", ""),   R("iest", "y"),  R("ier", "y"), R("ies", "y"),
    R("ied", "y"), R("ily", "y"), R("iness", "y"), R("ness", ""), R("ing", ""),
    R("ing", "e"), R("ed", ""),   R("ed", "e"),    R("es", ""),   R("s", ""),
    R("ly", ""),   R("est", ""),  R("est", "e"),   R("er", ""),   R("er", "e"),
};
#undef R

static const struct sa_entry *get_lemma(const struct sa_lex *lx, const char *w, size_t len,
                                        const struct lemma_rule *r)
{
    size_t k = r->sl, a = r->al;
    char buf[SA_TOKEN_MAX + 8];
    if (len < k + 3 || len - k + a > SA_TOKEN_MAX || memcmp(w + len - k, r->strip, k) != 0)
        return NULL;
    memcpy(buf, w, len - k);
    memcpy(buf + len - k, r->add, a);
    const struct sa_entry *e = sa_lex_get(lx, buf, len - k + a);
    /* A doubled final consonant: stopped -> stop, bigger -> big. */
    if (!e && a == 0 && len - k >= 4 && buf[len - k - 1] == buf[len - k - 2] &&
        !strchr("aeiouls", buf[len - k - 1]))
        e = sa_lex_get(lx, buf, len - k - 1);
    /* Function words and modifiers have no inflected forms worth reading. */
    if (e && (e->flags & (SA_BOOST | SA_NEGATOR | SA_CONTRAST | SA_INTENS)))
        return NULL;
    return e;
}

static const struct sa_entry *lookup(const struct sa_lex *lx, const char *w, size_t len)
{
    const struct sa_entry *e = sa_lex_get(lx, w, len);
    for (size_t i = 0; !e && len > 3 && i < sizeof rules / sizeof *rules; i++)
        e = get_lemma(lx, w, len, &rules[i]);
    return e;
}

/* w with each run of three or more equal letters cut to keep letters
 * (soooo -> soo or so); its length, or 0 when w has no such run. */
static size_t squeeze(const char *w, size_t len, size_t keep, char *out)
{
    size_t n = 0, run = 0;
    int cut = 0;
    for (size_t i = 0; i < len; i++) {
        run = i > 0 && w[i] == w[i - 1] ? run + 1 : 1;
        if (run > keep) {
            cut |= run == 3 || keep == 1;
            continue;
        }
        out[n++] = w[i];
    }
    return cut ? n : 0;
}

/* A word the lexicon lacks that starts with un-, dis- or non- or has
 * -less in it (thanklessly) is looked up among the derived words. */
static const struct sa_entry *lookup_derived(const struct sa_lex *lx, const char *w, size_t len)
{
    const struct sa_entry *e = lookup(lx, w, len);
    const struct sa_lex *d = e || len < 6 ? NULL : sa_lex_derived(lx);
    if (d && (memcmp(w, "un", 2) == 0 || memcmp(w, "dis", 3) == 0 || memcmp(w, "non", 3) == 0 ||
              memmem(w + 4, len - 4, "less", 4)))
        e = lookup(d, w, len);
    return e;
}

const struct sa_entry *sa_en_lookup(const struct sa_lex *lx, const char *w, size_t len)
{
    const struct sa_entry *e = lookup_derived(lx, w, len);
    if (e || len < 4 || len > SA_TOKEN_MAX)
        return e;
    /* An elongated word (goooood, loooove, sooo): the run cut to two
     * letters (good), else to one (love). */
    char buf[SA_TOKEN_MAX];
    size_t n = squeeze(w, len, 2, buf);
    if (n && (e = lookup_derived(lx, buf, n)) != NULL)
        return e;
    n = n ? squeeze(w, len, 1, buf) : 0;
    return n ? lookup_derived(lx, buf, n) : NULL;
}

static int word_is(const char *f, const struct sa_token *t, const char *w)
{
    size_t n = strlen(w);
    return t->kind == T_WORD && t->len == n && memcmp(f + t->off, w, n) == 0;
}

/* Python's str.isupper(): a cased letter and no lower-case one (ASCII;
 * English words in the lexicon are ASCII). */
static int all_caps(const char *orig, const struct sa_token *t)
{
    int upper = 0;
    for (unsigned i = 0; i < t->len; i++) {
        unsigned char c = (unsigned char)orig[t->off + i];
        if (c >= 'a' && c <= 'z')
            return 0;
        upper |= c >= 'A' && c <= 'Z';
    }
    return upper;
}

/* "couldn't be happier", "could not be more pleased": a negated
 * comparative after could ... be is the highest praise, not a negation.
 * j is the negator, i the polar word. */
static int could_not_be_more(const char *f, const struct sa_token *it, int j, int i)
{
    const struct sa_token *n = &it[j];
    int could = (n->len >= 6 && memcmp(f + n->off, "could", 5) == 0) ||
                (j > 0 && word_is(f, n, "not") && word_is(f, &it[j - 1], "could"));
    if (!could || !word_is(f, &it[j + 1], "be"))
        return 0;
    const struct sa_token *w = &it[i];
    int comparative = w->len > 3 && memcmp(f + w->off + w->len - 2, "er", 2) == 0;
    return (j + 2 == i && comparative) ||
           (j + 3 == i && (word_is(f, &it[j + 2], "more") || comparative));
}

static int negated(const char *f, const struct sa_token *t, const struct sa_entry *e)
{
    if (t->kind != T_WORD)
        return 0;
    if (e && (e->flags & SA_NEGATOR))
        return 1;
    const char *w = f + t->off;
    return (t->len > 3 && memcmp(w + t->len - 3, "n't", 3) == 0) ||
           (t->len > 5 && memcmp(w + t->len - 5, "n’t", 5) == 0);
}

void sa_en_score(const struct sa_lex *lx, struct sa_memo *memo, const struct sa_emoji *emoji,
                 size_t nemoji, const char *orig, const char *f, const struct sa_token *tok,
                 size_t n, double *score, int *complaint)
{
    /* The words and emoji (VADER's items), their entries and valences. */
    struct sa_token it[MAX_WORDS];
    const struct sa_entry *e[MAX_WORDS];
    float val[MAX_WORDS];
    unsigned char consumed[MAX_WORDS];
    size_t m = 0;
    unsigned excl = 0, quest = 0;
    int caps = 0, words = 0;
    for (size_t i = 0; i < n && m < MAX_WORDS; i++) {
        if (tok[i].kind == T_EXCL)
            excl += tok[i].cp;
        else if (tok[i].kind == T_QUEST)
            quest += tok[i].cp;
        else if (tok[i].kind == T_WORD || tok[i].kind == T_EMOJI)
            it[m++] = tok[i];
    }
    for (size_t i = 0; i < m; i++) {
        e[i] = NULL;
        consumed[i] = 0;
        if (it[i].kind != T_WORD)
            continue;
        words++;
        caps += all_caps(orig, &it[i]);
    }
    int cap_diff = caps > 0 && caps < words;
    int but = -1;
    for (size_t i = 0; i < m; i++) {
        if (it[i].kind != T_WORD || consumed[i])
            continue;
        unsigned long long h = sa_hash(f + it[i].off, it[i].len);
        /* A two-word entry first (customer service, kind of). */
        if (i + 1 < m && it[i + 1].kind == T_WORD &&
            it[i + 1].off + it[i + 1].len - it[i].off <= SA_TOKEN_MAX * 2 &&
            sa_lex_may_start_pair(lx, h)) {
            e[i] =
                sa_lex_get(lx, f + it[i].off, (size_t)(it[i + 1].off + it[i + 1].len - it[i].off));
            if (e[i]) {
                consumed[i + 1] = 1;
                continue;
            }
        }
        int hit;
        struct sa_memo *ms = sa_memo_slot(memo, f + it[i].off, it[i].len, h, &hit);
        if (hit) {
            e[i] = ms->e;
        } else {
            e[i] = sa_en_lookup(lx, f + it[i].off, it[i].len);
            if (ms) {
                *ms = (struct sa_memo){e[i], (unsigned char)it[i].len, 0, 0, {0}};
                memcpy(ms->key, f + it[i].off, it[i].len);
            }
        }
        if (but < 0 && word_is(f, &it[i], "but"))
            but = (int)i;
    }
    int cues = 0;
    for (size_t ui = 0; ui < m; ui++) {
        int i = (int)ui;
        val[i] = 0;
        if (consumed[i])
            continue;
        if (it[i].kind == T_EMOJI) {
            int found;
            val[i] = 3 * sa_emoji_score(emoji, nemoji, it[i].cp, &found);
            continue;
        }
        const struct sa_entry *ent = e[i];
        if (!ent || (ent->flags & (SA_BOOST | SA_NEGATOR | SA_CONTRAST)))
            continue;
        int neg_before = 0;
        for (int j = i - 1; j >= 0 && j >= i - 3; j--)
            neg_before |= negated(f, &it[j], e[j]);
        if ((ent->flags & SA_COMPLAINT) && !neg_before)
            cues++;
        if ((ent->flags & SA_NEGCOMPLAINT) && neg_before)
            cues++;
        if (ent->score == 0) {
            /* A neutral word whose negation is polar: never arrived. */
            if ((ent->flags & SA_HASNEG) && neg_before)
                val[i] = ent->negscore;
            continue;
        }
        /* "too" before a word that says nothing itself is a fault (too big,
         * too light); before a polar word (too good) or alone (me too) it is
         * nothing. */
        if (word_is(f, &it[i], "too") &&
            (ui + 1 >= m || it[i + 1].kind != T_WORD || entry_polar(e[i + 1])))
            continue;
        /* "no" before a polar word is its negator, not a word of its own. */
        if (word_is(f, &it[i], "no") && ui + 1 < m && entry_polar(e[i + 1]))
            continue;
        float v = ent->score;
        if ((i > 0 && word_is(f, &it[i - 1], "no")) || (i > 1 && word_is(f, &it[i - 2], "no")) ||
            (i > 2 && word_is(f, &it[i - 3], "no") &&
             (word_is(f, &it[i - 1], "or") || word_is(f, &it[i - 1], "nor"))))
            v = ent->score * N_SCALAR;
        if (cap_diff && all_caps(orig, &it[i]))
            v += v > 0 ? C_INCR : -C_INCR;
        for (int s = 0; s < 3 && i > s; s++) {
            int j = i - (s + 1);
            if (entry_polar(e[j]))
                continue; /* a polar word before is a word of its own */
            if (e[j] && (e[j]->flags & SA_BOOST) && it[j].kind == T_WORD) {
                float sc = v < 0 ? -e[j]->score : e[j]->score;
                if (cap_diff && all_caps(orig, &it[j]))
                    sc += v > 0 ? C_INCR : -C_INCR;
                v += sc * (s == 0 ? 1 : s == 1 ? 0.95f : 0.9f);
            }
            if (s == 0) {
                if (negated(f, &it[j], e[j]))
                    v *= N_SCALAR;
            } else if (could_not_be_more(f, it, j, i)) {
                ; /* couldn't be happier */
            } else {
                int never = word_is(f, &it[i - s - 1], "never");
                int so_this =
                    word_is(f, &it[i - 1], "so") || word_is(f, &it[i - 1], "this") ||
                    (s == 2 && (word_is(f, &it[i - 2], "so") || word_is(f, &it[i - 2], "this")));
                int doubt =
                    word_is(f, &it[i - 1], "doubt") || (s == 2 && word_is(f, &it[i - 2], "doubt"));
                if (never && so_this)
                    v *= 1.25f; /* never so good */
                else if (word_is(f, &it[j], "without") && doubt)
                    ; /* without doubt good */
                else if (negated(f, &it[j], e[j]))
                    v *= N_SCALAR;
            }
        }
        if (i > 0 && word_is(f, &it[i - 1], "least") &&
            !(i > 1 && (word_is(f, &it[i - 2], "at") || word_is(f, &it[i - 2], "very"))))
            v *= N_SCALAR;
        val[i] = v;
    }
    float sum = 0;
    for (size_t i = 0; i < m; i++)
        sum += val[i] * (but < 0 ? 1 : (int)i < but ? 0.5f : (int)i > but ? 1.5f : 1);
    if (sum == 0) {
        /* No polar word read: a negated statement leans negative (Potts
         * 2011, "On the negativity of negation": negators are markedly
         * more frequent in negative reviews of every kind), so each
         * negator counts NEG_LEAN. */
        int negs = 0;
        for (size_t i = 0; i < m; i++)
            negs += negated(f, &it[i], e[i]) || word_is(f, &it[i], "no");
        sum = NEG_LEAN * (float)negs;
    }
    float amp = 0.292f * (float)(excl > 4 ? 4 : excl);
    if (quest > 1)
        amp += quest <= 3 ? 0.18f * (float)quest : 0.96f;
    if (sum > 0)
        sum += amp;
    else if (sum < 0)
        sum -= amp;
    *score = sum;
    *complaint = cues;
}
