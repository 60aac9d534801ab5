/* SPDX-License-Identifier: Apache-2.0 */
/* The sentiment processor's text analyser: language identification
 * (libexttextcat), case folding (ICU, Turkish rules for Turkish), lexicon
 * scoring with Turkish suffix-aware lemma matching and the negation,
 * intensifier, contrast, emoji and punctuation rules, and the complaint
 * flag.  No kanal types: the plugin, the unit tests, the fuzzer and the
 * bench all link it as it is. */
#ifndef KANAL_SENTIMENT_ANALYSE_H
#define KANAL_SENTIMENT_ANALYSE_H

#include <stddef.h>

#define SA_MODEL_NAME "kanal-lexicon-1.1"
#define SA_TEXT_MAX 4096 /* bytes of text analysed; the rest is not read */
#define SA_TOKEN_MAX 64  /* bytes of one folded word; longer words are skipped */

enum sa_flag {
    SA_VERB = 1 << 0,         /* takes verbal negation -mA- */
    SA_COMPLAINT = 1 << 1,    /* a complaint cue */
    SA_NEGCOMPLAINT = 1 << 2, /* a complaint cue when negated (gelmedi) */
    SA_INTENS = 1 << 3,       /* intensifier: score is the multiplier */
    SA_NEGATOR = 1 << 4,      /* değil, yok, not, never */
    SA_CONTRAST = 1 << 5,     /* ama, fakat, but */
    SA_HASNEG = 1 << 6,       /* negscore is set */
    SA_BOOST = 1 << 7,        /* English booster/dampener: score is VADER's scalar */
    SA_OPINION = 1 << 8,      /* a matter of taste (logo, pahalı): criticism, no complaint */
};

struct sa_entry {
    float score;    /* -4..4 (VADER's scale) */
    float negscore; /* with SA_HASNEG: the score when negated */
    unsigned flags;
};

struct sa_lex; /* word -> entry */
struct sa_model;

struct sa_result {
    const char *label; /* "positive", "negative", "neutral" (static) */
    double score;      /* -1..1 */
    char lang[8];      /* "tr", "en", another code, or "und" */
    int complaint;
};

/* Loads the lexicons from datadir and libexttextcat's fingerprints from
 * langid_dir.  0, or negative errno with err filled (file and reason). */
int sa_model_load(struct sa_model **out, const char *datadir, const char *langid_dir, char *err,
                  size_t errlen);
void sa_model_free(struct sa_model *m);
/* Label threshold: |score| below it is neutral. */
void sa_model_set_threshold(struct sa_model *m, double thr);

/* Analyses len bytes of UTF-8 text (invalid sequences are skipped).
 * lang NULL identifies the language; "tr"/"en" forces it. */
int sa_analyse(struct sa_model *m, const char *text, size_t len, const char *lang,
               struct sa_result *res);

/* Exposed for the unit tests. */
const struct sa_lex *sa_model_lex(const struct sa_model *m, const char *lang);
const struct sa_entry *sa_lex_get(const struct sa_lex *lx, const char *key, size_t len);
/* Lower-cases UTF-8 with ICU for locale ("tr": İ->i, I->ı); Turkish also
 * drops the circumflex (hâlâ -> hala).  Returns bytes written or -1. */
int sa_fold(const char *in, size_t len, const char *locale, char *out, size_t cap);
/* The same with ICU only; sa_fold folds the common Turkish text without it
 * and equals this. */
int sa_fold_icu(const char *in, size_t len, const char *locale, char *out, size_t cap);
/* Turkish suffix-aware lemma match of a folded word: the longest lexicon
 * stem whose remainder parses as a chain of Turkish suffixes.  *negated:
 * the chain holds verbal negation -mA- (verbs only); *privative: -sIz. */
const struct sa_entry *sa_tr_match(const struct sa_lex *lx, const char *word, size_t len,
                                   int *negated, int *privative, size_t *stem_len);

/* lexicon.c.  Keys are hashed with FNV-1a, which extends a prefix's hash
 * byte by byte: the Turkish matcher hashes each stem candidate in one pass
 * over the word. */
#define SA_HASH_INIT 1469598103934665603ull
static inline unsigned long long sa_hash_step(unsigned long long h, unsigned char c)
{
    return (h ^ c) * 1099511628211ull;
}
static inline unsigned long long sa_hash(const char *s, size_t len)
{
    unsigned long long h = SA_HASH_INIT;
    for (size_t i = 0; i < len; i++)
        h = sa_hash_step(h, (unsigned char)s[i]);
    return h;
}
const struct sa_entry *sa_lex_get_hashed(const struct sa_lex *lx, const char *key, size_t len,
                                         unsigned long long hash);
/* Whether some two-word key starts with this word (a filter: a yes may be
 * wrong, a no is not), so that most words cost no look-up of a pair. */
int sa_lex_may_start_pair(const struct sa_lex *lx, unsigned long long word_hash);
struct sa_lex *sa_lex_new(void);
void sa_lex_free(struct sa_lex *lx);
int sa_lex_put(struct sa_lex *lx, const char *key, size_t len, const struct sa_entry *e);
size_t sa_lex_count(const struct sa_lex *lx);
int sa_lex_load_vader(struct sa_lex *lx, const char *path, char *err, size_t errlen);
/* AFINN-165's valence (-5..5) on VADER's scale (-4..4). */
#define SA_AFINN_SCALE 0.77f
int sa_lex_load_afinn(struct sa_lex *lx, const char *path, char *err, size_t errlen);
/* un-, dis-, non-, -less: a derived word's score is its root's times this
 * (VADER's negation scalar). */
#define SA_DERIVE_SCALE -0.74f
int sa_lex_derive_en(struct sa_lex *lx);
/* The table sa_lex_derive_en made for lx, or NULL. */
const struct sa_lex *sa_lex_derived(const struct sa_lex *lx);
int sa_lex_load_sentinet(struct sa_lex *lx, const char *path, char *err, size_t errlen);
int sa_lex_load_custom(struct sa_lex *lx, const char *path, char *err, size_t errlen);

struct sa_emoji {
    unsigned cp;
    float score;
};
int sa_emoji_load(struct sa_emoji **out, size_t *n, const char *path, char *err, size_t errlen);
float sa_emoji_score(const struct sa_emoji *tab, size_t n, unsigned cp, int *found);

/* ---- internal to the analyser's files ---- */

enum sa_tok_kind { T_WORD, T_EMOJI, T_EXCL, T_QUEST, T_BREAK, T_COMMA };

struct sa_token {
    enum sa_tok_kind kind;
    unsigned short off, len; /* word: bytes in the folded text */
    unsigned cp;             /* emoji: code point; ! and ?: run length */
};

/* A memo of word look-ups (the Turkish suffix matcher, the English lemma
 * fallback): direct-mapped by the word's hash, a later word taking the
 * slot of an earlier one.  Customer messages repeat their words, so most
 * words cost one hash and one compare.  Filled at analysis time, on the
 * one thread that analyses (the lexicons do not change after loading). */
#define SA_MEMO_SLOTS 8192
#define SA_MEMO_KEY 23
struct sa_memo {
    const struct sa_entry *e;
    unsigned char len; /* 0: empty */
    unsigned char neg, priv;
    char key[SA_MEMO_KEY];
};
/* The slot for word w (hash: sa_hash of it); *hit when it holds w (the
 * caller fills it if not).  NULL for words longer than SA_MEMO_KEY, which
 * are not remembered. */
struct sa_memo *sa_memo_slot(struct sa_memo *tab, const char *w, size_t len,
                             unsigned long long hash, int *hit);

/* english.c: VADER's rules over the tokens of folded English text; orig
 * is the text as written, at the same offsets (ALL-CAPS emphasis). */
void sa_en_score(const struct sa_lex *lx, struct sa_memo *memo, const struct sa_emoji *emoji,
                 size_t nemoji, const char *orig, const char *folded, const struct sa_token *tok,
                 size_t n, double *score, int *complaint);
/* english.c: the English lexicon's entry for a folded word or for its
 * lemma (disappointing -> disappoint, loved -> love, stopped -> stop). */
const struct sa_entry *sa_en_lookup(const struct sa_lex *lx, const char *w, size_t len);

#endif
