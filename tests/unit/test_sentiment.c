/* SPDX-License-Identifier: Apache-2.0 */
/* The sentiment processor's analyser (plugins/sentiment/): ICU case folding
 * with Turkish rules, the suffix-aware lemma matcher on a word list, and
 * each Turkish rule (verbal negation -mA-, değil / yok / hiç, intensifiers,
 * ama / fakat, emoji and repeated punctuation) on the shipped data, plus
 * language identification.  Run from the repository's root (make unit). */
#include "unit.h"

#include <math.h>
#include <sys/mman.h>
#include <unistd.h>

#include "analyse.h"

static struct sa_model *model;

static int setup(void **state)
{
    (void)state;
    char err[512] = "";
    if (sa_model_load(&model, "plugins/sentiment/data", "/usr/share/libexttextcat", err,
                      sizeof err) < 0) {
        fprintf(stderr, "cannot load the model: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sa_model_free(model);
    return 0;
}

static void expect_fold(const char *in, const char *locale, const char *want)
{
    char out[256];
    int n = sa_fold(in, strlen(in), locale, out, sizeof out);
    if (n < 0 || strcmp(out, want) != 0)
        fail_msg("fold(\"%s\", %s) = \"%s\", expected \"%s\"", in, locale, n < 0 ? "<error>" : out,
                 want);
}

static void test_icu_folding(void **state)
{
    (void)state;
    /* Turkish: dotted İ is i, dotless I is ı; the other letters fold too. */
    expect_fold("İSTANBUL", "tr", "istanbul");
    expect_fold("IŞIK", "tr", "ışık");
    expect_fold("İADE ISTIYORUM", "tr", "iade ıstıyorum");
    expect_fold("ÇĞÖŞÜ", "tr", "çğöşü");
    expect_fold("Hâlâ GELMEDİ", "tr", "hala gelmedi");
    /* English: I is i; İ is not a Turkish i there. */
    expect_fold("I LOVE IT", "en", "i love it");
    expect_fold("ISTANBUL", "en", "istanbul");
}

/* The lemma test list: word, stem it matches, negated, privative. */
static const struct {
    const char *word, *stem;
    int neg, priv;
} lemmas[] = {
    {"beğendim", "beğen", 0, 0},
    {"beğeniyorum", "beğen", 0, 0},
    {"beğenmedim", "beğen", 1, 0},
    {"beğenmiyorum", "beğen", 1, 0},
    {"beğenmeyecek", "beğen", 1, 0},
    {"gelmedi", "gel", 1, 0},
    {"gelmiyor", "gel", 1, 0},
    {"gelmemiş", "gel", 1, 0},
    {"gelmez", "gel", 1, 0},
    {"geldi", "gel", 0, 0},
    {"gelmek", "gel", 0, 0},
    {"gelmiş", "gel", 0, 0},
    {"ulaşamadım", "ulaş", 1, 0},
    {"ulaşamıyorum", "ulaş", 1, 0},
    {"çalışmıyor", "çalış", 1, 0},
    {"çalışma", "çalış", 0, 0},
    {"çalışmaları", "çalış", 0, 0},
    {"iade", "iade", 0, 0},
    {"iadesi", "iade", 0, 0},
    {"iadeler", "iade", 0, 0},
    {"iadeyi", "iade", 0, 0},
    {"sorunlar", "sorun", 0, 0},
    {"sorunsuz", "sorun", 0, 1},
    {"kalitesiz", "kalite", 0, 1},
    {"teşekkürler", "teşekkür", 0, 0},
    {"memnunum", "memnun", 0, 0},
    {"memnuniyetsizlik", "memnuniyet", 0, 1},
    {"derdim", "derd", 0, 0},
    {"yaşamadan", "yaşa", 1, 0}, /* -mAdAn: without doing */
    {"gelmeden", "gel", 1, 0},   /* the surface stem derd- is the lexicon's dert */
};

static void test_suffix_aware_lemmas(void **state)
{
    (void)state;
    struct sa_lex *lx = sa_lex_new();
    struct sa_entry verb = {1, 0, SA_VERB}, noun = {1, 0, 0};
    const char *verbs[] = {"beğen", "gel", "ulaş", "çalış", "sev", "yaşa"};
    const char *nouns[] = {"iade", "sorun", "kalite", "teşekkür", "memnun", "memnuniyet", "dert"};
    for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++)
        assert_int_equal(sa_lex_put(lx, verbs[i], strlen(verbs[i]), &verb), 0);
    for (size_t i = 0; i < sizeof nouns / sizeof *nouns; i++)
        assert_int_equal(sa_lex_put(lx, nouns[i], strlen(nouns[i]), &noun), 0);
    for (size_t i = 0; i < sizeof lemmas / sizeof *lemmas; i++) {
        int neg, priv;
        size_t stem = 0;
        const char *w = lemmas[i].word;
        const struct sa_entry *e = sa_tr_match(lx, w, strlen(w), &neg, &priv, &stem);
        if (!e || stem != strlen(lemmas[i].stem) || memcmp(w, lemmas[i].stem, stem) != 0 ||
            neg != lemmas[i].neg || priv != lemmas[i].priv)
            fail_msg("%s: matched %.*s neg=%d priv=%d, expected %s neg=%d priv=%d", w,
                     e ? (int)stem : 6, e ? w : "<none>", e ? neg : -1, e ? priv : -1,
                     lemmas[i].stem, lemmas[i].neg, lemmas[i].priv);
    }
    /* No stem whose remainder is not a suffix chain: sevkiyat is not sev-,
     * gelin (bride) ... is gel-in, a real parse, so it is not listed. */
    const char *none[] = {"sevkiyat", "iadx", "sorunxyz", "gelecekçilikxq"};
    for (size_t i = 0; i < sizeof none / sizeof *none; i++) {
        int neg, priv;
        if (sa_tr_match(lx, none[i], strlen(none[i]), &neg, &priv, NULL))
            fail_msg("%s matched a stem", none[i]);
    }
    /* A noun takes no verbal negation: iademe is no negated iade. */
    int neg = 0, priv = 0;
    const struct sa_entry *e = sa_tr_match(lx, "sorunmadı", strlen("sorunmadı"), &neg, &priv, NULL);
    assert_true(e == NULL || neg == 0);
    sa_lex_free(lx);
}

static double score(const char *text)
{
    struct sa_result r;
    assert_int_equal(sa_analyse(model, text, strlen(text), "tr", &r), 0);
    return r.score;
}

static const char *label(const char *text, int *complaint)
{
    struct sa_result r;
    assert_int_equal(sa_analyse(model, text, strlen(text), "tr", &r), 0);
    if (complaint)
        *complaint = r.complaint;
    return r.label;
}

#define LABEL(text, want) assert_string_equal(label(text, NULL), want)

static void test_verbal_negation(void **state)
{
    (void)state;
    LABEL("Ürünü beğendim", "positive");
    LABEL("Ürünü beğenmedim", "negative");
    LABEL("Bu ürünü hiç beğenmiyorum", "negative");
    LABEL("Sipariş geldi", "neutral");
    int c = 0;
    LABEL("Sipariş gelmedi", "negative");
    label("Siparişim hâlâ gelmedi", &c);
    assert_true(c);
    label("Sipariş geldi", &c);
    assert_false(c);
    label("Müşteri hizmetlerine ulaşamıyorum", &c);
    assert_true(c);
    /* A negated neutral verb turns the word before it. */
    LABEL("Memnun kaldım", "positive");
    LABEL("Memnun kalmadım", "negative");
    /* The verbal noun is no negation. */
    LABEL("Mağazanın çalışma saatleri nedir?", "neutral");
}

static void test_degil_yok_hic(void **state)
{
    (void)state;
    LABEL("Ürün güzel", "positive");
    LABEL("Ürün güzel değil", "negative");
    LABEL("Kargo fena değil", "positive");
    LABEL("Üründe sorun var", "negative");
    LABEL("Üründe hiçbir sorun yok", "positive");
    LABEL("Hiç sorun yaşamadım", "positive");
    int c = 0;
    LABEL("Üç gündür cevap yok", "negative");
    label("Üç gündür cevap yok", &c);
    assert_true(c);
    /* hiç strengthens the negation. */
    assert_true(score("Hiç beğenmedim") < score("Beğenmedim"));
}

static void test_intensifiers(void **state)
{
    (void)state;
    assert_true(score("Çok güzel") > score("Güzel"));
    assert_true(score("Aşırı güzel") > score("Güzel"));
    assert_true(score("Gerçekten güzel") > score("Güzel"));
    assert_true(score("Çok kötü") < score("Kötü"));
    assert_true(score("Gerçekten berbat") < score("Berbat"));
}

static void test_ama_fakat_weights_the_clause_after(void **state)
{
    (void)state;
    LABEL("Ürün güzel ama kargo berbat", "negative");
    LABEL("Kargo berbat ama ürün güzel", "positive");
    LABEL("Kargo geç geldi fakat ürün harika", "positive");
    LABEL("Fiyat uygun fakat kalite kötü", "negative");
}

static void test_emoji_and_punctuation(void **state)
{
    (void)state;
    LABEL("Kargo geldi 😍", "positive");
    LABEL("Kargo geldi 😡", "negative");
    LABEL("Kargo geldi", "neutral");
    assert_true(score("Harika!!!") > score("Harika"));
    assert_true(score("Berbat!!!") < score("Berbat"));
    /* An impatient ?? run is no neutral question. */
    LABEL("Siparişim nerede?", "neutral");
    LABEL("Siparişim nerede???", "negative");
}

static void test_language_identification(void **state)
{
    (void)state;
    static const struct {
        const char *text, *lang;
    } cases[] = {
        {"Merhaba, siparişim on gündür gelmedi ve müşteri hizmetlerine ulaşamıyorum.", "tr"},
        {"Ürün kırık geldi", "tr"},
        /* No ı, ğ or ş, and short: textcat's n-grams guess another
         * language; the Turkish lexicon's polar words overrule it. */
        {"Lezzet harika, servis mükemmel.", "tr"},
        {"Hello, my order has not arrived yet and nobody answers the phone.", "en"},
        {"Das Paket ist heute angekommen und alles ist in Ordnung, danke schön.", "de"},
        {"12345 67890", "und"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct sa_result r;
        sa_analyse(model, cases[i].text, strlen(cases[i].text), NULL, &r);
        if (strcmp(r.lang, cases[i].lang) != 0)
            fail_msg("\"%s\": lang %s, expected %s", cases[i].text, r.lang, cases[i].lang);
    }
    /* English text is not read with the Turkish rules: I is i there, and
     * "I like it" is positive. */
    struct sa_result r;
    const char *en = "I like it, it is great and I will buy it again for my kids.";
    sa_analyse(model, en, strlen(en), NULL, &r);
    assert_string_equal(r.lang, "en");
    assert_string_equal(r.label, "positive");
}

static int complaint(const char *text)
{
    int c = 0;
    label(text, &c);
    return c;
}

/* The complaint flag: cues, redress, and criticism that is no complaint. */
static void test_turkish_complaint_rules(void **state)
{
    (void)state;
    /* hâlâ / halen count as a cue though they are intensifiers. */
    assert_true(complaint("Siparişim hâlâ hazırlanıyor"));
    assert_true(complaint("Kargom halen yolda görünüyor"));
    assert_false(complaint("Siparişim hazırlanıyor"));
    /* Two cues make a complaint unless the message is clearly praise. */
    assert_true(complaint("Sipariş hala hazırlanıyor görünüyor, 8 gün oldu"));
    assert_true(complaint("Biletin iadesi reddedildi"));
    /* Asking for redress, waiting, no reach, negated service verbs. */
    assert_true(complaint("Kargom ne zaman gelecek?"));
    assert_true(complaint("Param ne zaman iade edilecek?"));
    assert_true(complaint("Üç gündür dönüş bekliyorum"));
    assert_true(complaint("Çağrı merkezine ulaşamıyorum"));
    assert_true(complaint("Kargo görevlisi adreste bulunamadı yazmış"));
    assert_true(complaint("Paketin içinden başka birinin siparişi çıktı"));
    assert_true(complaint("Ayakkabı bir haftada dağıldı, kalitesiz ürün"));
    /* -sIz turns the cue: sorunsuz is praise, not a complaint. */
    assert_false(complaint("İade sorunsuz yapıldı, teşekkürler"));
    assert_false(complaint("Kargo sorunsuz geldi"));
    /* A matter of taste is criticism, not a complaint... */
    assert_false(complaint("Yeni logo hiç güzel olmamış"));
    assert_false(complaint("Kış koleksiyonunuz çok sıkıcı"));
    assert_false(complaint("Bu ürün bana pahalı geldi"));
    assert_false(complaint("Yeni tasarım eskisi kadar güzel değil bence"));
    assert_string_equal(label("Yeni logo hiç güzel olmamış", NULL), "negative");
    /* ...unless a cue says the service failed too. */
    assert_true(complaint("Yeni ambalaj kırık geldi, iade istiyorum"));
    /* A plain negative message without taste words stays a complaint. */
    assert_true(complaint("Hizmetiniz berbat"));
    /* kapanıyor is a crashing app, not a shop's closing time. */
    assert_false(complaint("Saat kaçta kapanıyorsunuz?"));
    assert_true(complaint("Uygulama kapanıyor, giriş yapamıyorum"));
}

/* değil and yok turn the polar word just before them, not one across a
 * comma. */
static void test_degil_stops_at_a_comma(void **state)
{
    (void)state;
    LABEL("Ürün sahte, orijinal değil", "negative");
    LABEL("Ürün güzel değil", "negative");
    LABEL("Kargo hızlı, sorun yok", "positive");
    assert_true(complaint("Ürün sahte, orijinal değil"));
}

/* The Turkish folding done without ICU equals ICU's on every message of
 * the evaluation sets, and on the letters and symbols it handles itself;
 * what it does not handle (another script, a combining dot, invalid
 * UTF-8) goes to ICU and so equals it too. */
static void expect_same_fold(const char *text)
{
    char a[SA_TEXT_MAX * 6 + 16], b[SA_TEXT_MAX * 6 + 16];
    int na = sa_fold(text, strlen(text), "tr", a, sizeof a);
    int nb = sa_fold_icu(text, strlen(text), "tr", b, sizeof b);
    if (na != nb || (na >= 0 && memcmp(a, b, (size_t)na) != 0))
        fail_msg("fold(\"%s\"): \"%.*s\" without ICU, \"%.*s\" with it", text, na < 0 ? 0 : na, a,
                 nb < 0 ? 0 : nb, b);
}

static void test_fold_without_icu_equals_icu(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "İADE ISTIYORUM ÇĞÖŞÜ çğöşüı Hâlâ Î Û Â",
        "Kargo 😡😡 gelmedi!!! → €50 … “tırnak”",
        "Ελληνικά ΑΒΓ",
        "Привет МИР",
        "I\xcc\x87stanbul",
        "bad \xff\xfe utf8 \xc4",
        "Straße ÉCOLE",
        "emoji with ZWJ 👩‍💻 and VS ❤️",
        "Ⓐ Ω K Ⅻ",
        "",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        expect_same_fold(cases[i]);
    const char *files[] = {"tests/sentiment/tr.dev.tsv", "tests/sentiment/tr.test.tsv",
                           "tests/sentiment/en.dev.tsv"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        FILE *f = fopen(files[i], "r");
        char line[8192];
        assert_non_null(f);
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = '\0';
            expect_same_fold(line);
        }
        fclose(f);
    }
}

static double en_score(const char *text)
{
    struct sa_result r;
    assert_int_equal(sa_analyse(model, text, strlen(text), "en", &r), 0);
    return r.score;
}

/* VADER's rules, each against the same sentence without it. */
static void test_english_vader_rules(void **state)
{
    (void)state;
    /* Negation within three words, by -0.74. */
    assert_true(en_score("The food is good") > 0);
    assert_true(en_score("The food is not good") < 0);
    assert_true(en_score("The food isn't very good") < 0);
    assert_true(en_score("The food is not really very good") < 0);
    assert_true(-en_score("The food is not good") < en_score("The food is good"));
    /* "but": the clause after it weighs more. */
    assert_true(en_score("The food is good but the service is bad") < 0);
    assert_true(en_score("The service is bad but the food is good") > 0);
    /* ALL CAPS among lower case words; a text all in capitals is no emphasis. */
    assert_true(en_score("The food is GOOD") > en_score("The food is good"));
    assert_true(en_score("The food is BAD") < en_score("The food is bad"));
    assert_true(fabs(en_score("THE FOOD IS GOOD") - en_score("the food is good")) < 1e-9);
    /* Boosters and dampeners. */
    assert_true(en_score("The food is very good") > en_score("The food is good"));
    assert_true(en_score("The food is extremely bad") < en_score("The food is bad"));
    assert_true(en_score("The food is slightly good") < en_score("The food is good"));
    assert_true(en_score("The food is slightly good") > 0);
    /* least, never so, without doubt, no. */
    assert_true(en_score("The least good food") < 0);
    assert_true(en_score("At least the food is good") > 0);
    assert_true(en_score("Never so good") > en_score("So good"));
    assert_true(en_score("Without doubt good") > 0);
    assert_true(en_score("There were no problems") > 0);
    assert_true(en_score("No good") < 0);
    /* "too" before a word that says nothing itself is a fault. */
    assert_true(en_score("The case is too big") < 0);
    assert_true(en_score("The case is not too big") > 0);
    assert_true(en_score("It is too good") > 0);
    assert_true(en_score("Me too") == 0);
    /* A negated comparative after could ... be is praise. */
    assert_true(en_score("I couldn't be happier") > 0);
    assert_true(en_score("I could not be happier with it") > 0);
    assert_true(en_score("Couldn't be more pleased") > 0);
    assert_true(en_score("It couldn't be better") > 0);
    assert_true(en_score("It could not be good") < 0);
    /* ! and ?? push the way the text leans. */
    assert_true(en_score("Good!!!") > en_score("Good"));
    assert_true(en_score("Bad!!!") < en_score("Bad"));
    assert_true(en_score("Bad??") < en_score("Bad"));
    /* A neutral verb whose negation is a complaint. */
    struct sa_result r;
    const char *late = "My order never arrived";
    sa_analyse(model, late, strlen(late), "en", &r);
    assert_string_equal(r.label, "negative");
    assert_true(r.complaint);
}

/* Review words VADER does not list, and review idioms whose words alone
 * read the other way (don't waste: a negated negative). */
static void test_english_review_words(void **state)
{
    (void)state;
    static const char *const neg[] = {
        "Don't waste your money.",
        "Dont waste your time",
        "Pretty useless!",
        "Piece of junk.",
        "The clip breaks easily.",
        "Do not buy this phone.",
        "Steer clear of this product.",
        "I want my money back.",
        "I'm sending it back.",
        "Unreliable and slow.",
        "That company is a joke.",
        "Very dissapointing performance.",
        "Doesn't hold a charge.",
        "The holster did not match the photo.",
        "Do NOT purchase this.",
    };
    static const char *const pos[] = {
        "Very sturdy.",     "Fast shipping, works great.", "Setup went very smoothly.",
        "A must have!",     "Pretty good phone.",          "Will buy again.",
        "Arrived on time.",
    };
    for (size_t i = 0; i < sizeof neg / sizeof *neg; i++)
        if (!(en_score(neg[i]) < 0))
            fail_msg("\"%s\": score %f, expected negative", neg[i], en_score(neg[i]));
    for (size_t i = 0; i < sizeof pos / sizeof *pos; i++)
        if (!(en_score(pos[i]) > 0))
            fail_msg("\"%s\": score %f, expected positive", pos[i], en_score(pos[i]));
}

/* AFINN-165 beside VADER: a word VADER lacks gets AFINN's valence times
 * SA_AFINN_SCALE; a word both list keeps VADER's rating. */
static void test_english_afinn_words(void **state)
{
    (void)state;
    const struct sa_lex *en = sa_model_lex(model, "en");
    const struct sa_entry *e = sa_lex_get(en, "exquisite", strlen("exquisite"));
    assert_non_null(e);
    assert_true(fabs(e->score - 3 * SA_AFINN_SCALE) < 1e-6);
    e = sa_lex_get(en, "incoherent", strlen("incoherent"));
    assert_non_null(e);
    assert_true(fabs(e->score + 2 * SA_AFINN_SCALE) < 1e-6);
    e = sa_lex_get(en, "good", strlen("good"));
    assert_non_null(e);
    assert_true(fabs(e->score - 1.9) < 1e-6); /* VADER's 1.9, not AFINN's 3 */
    static const char *const neg[] = {
        "The plot was incoherent.",
        "A plodding film.",
        "The outage lasted all day.",
        "The acting was wooden and the story macabre.",
        "The pasta had no flavour, a travesty.",
        "It was miscast.",
    };
    static const char *const pos[] = {
        "An exquisite dish.",       "The acting was mesmerizing.", "A very reliable car.",
        "The ending is uplifting.", "Her performance was deft.",
    };
    for (size_t i = 0; i < sizeof neg / sizeof *neg; i++)
        if (!(en_score(neg[i]) < 0))
            fail_msg("\"%s\": score %f, expected negative", neg[i], en_score(neg[i]));
    for (size_t i = 0; i < sizeof pos / sizeof *pos; i++)
        if (!(en_score(pos[i]) > 0))
            fail_msg("\"%s\": score %f, expected positive", pos[i], en_score(pos[i]));
    /* AFINN's phrases that VADER's rules do not read are kept (bad luck);
     * negated ones (not good, dont like) and phrases of three words are
     * the negation rule's and are left out. */
    e = sa_lex_get(en, "bad luck", 8);
    assert_non_null(e);
    assert_true(fabs(e->score + 2 * SA_AFINN_SCALE) < 1e-6);
    assert_null(sa_lex_get(en, "not good", 8));
    assert_null(sa_lex_get(en, "dont like", 9));
    assert_null(sa_lex_get(en, "no fun", 6));
    assert_null(sa_lex_get(en, "does not work", 13));
    assert_true(en_score("I am fed up with this.") < 0);
    assert_true(en_score("It's not good.") < 0);
    /* Negation applies to AFINN's words as to VADER's. */
    assert_true(en_score("The plot was not incoherent.") > 0);
    assert_true(en_score("It is not reliable.") < 0);
}

/* Derivations the lexicon does not list: un-, dis-, non- and -less turn
 * their root by SA_DERIVE_SCALE; a listed derivation keeps its rating. */
static void test_english_derivations(void **state)
{
    (void)state;
    const struct sa_lex *en = sa_model_lex(model, "en");
    static const struct {
        const char *word, *root;
    } derived[] = {
        {"unhelpful", "helpful"},       {"uninteresting", "interesting"},
        {"unremarkable", "remarkable"}, {"unappealing", "appealing"},
        {"thankless", "thank"},         {"nonfunctional", "functional"},
    };
    for (size_t i = 0; i < sizeof derived / sizeof *derived; i++) {
        const struct sa_entry *d = sa_en_lookup(en, derived[i].word, strlen(derived[i].word));
        const struct sa_entry *r = sa_lex_get(en, derived[i].root, strlen(derived[i].root));
        assert_non_null(r);
        if (!d || fabs(d->score - r->score * SA_DERIVE_SCALE) > 1e-6)
            fail_msg("%s: %f, expected %f", derived[i].word, d ? d->score : 0.0,
                     r->score * SA_DERIVE_SCALE);
    }
    /* A derivation the lexicons list keeps their rating: VADER's painless
     * is 1.2, not pain's -2.3 turned. */
    const struct sa_entry *e = sa_en_lookup(en, "painless", strlen("painless"));
    assert_non_null(e);
    assert_true(fabs(e->score - 1.2) < 1e-6);
    /* In sentences, with inflections and negation. */
    assert_true(en_score("The staff was unhelpful.") < 0);
    assert_true(en_score("The staff were unhelpfully slow to answer.") < 0);
    assert_true(en_score("An uninteresting plot.") < 0);
    assert_true(en_score("The plot was not uninteresting.") > 0);
    assert_true(en_score("The food was unremarkable.") < 0);
    /* Words that only look derived are not made up: a root of under four
     * letters or no polar root derives nothing. */
    assert_null(sa_en_lookup(en, "unwind", 6));
    assert_null(sa_en_lookup(en, "wireless", 8));
    assert_null(sa_en_lookup(en, "untie", 5));
    assert_null(sa_en_lookup(en, "unbad", 5));
    /* The lexicon's own table holds none of them. */
    assert_null(sa_lex_get(en, "unhelpful", 9));
}

/* Elongated words (goooood, loooove) read as the word; ASCII emoticons as
 * the emoji they stand for. */
static void test_english_elongation_and_emoticons(void **state)
{
    (void)state;
    assert_true(en_score("goooood") > 0);
    assert_true(fabs(en_score("The food was goooood") - en_score("The food was good")) < 1e-9);
    assert_true(fabs(en_score("I loooove it") - en_score("I love it")) < 1e-9);
    assert_true(en_score("baaaaad service") < 0);
    assert_true(en_score("It was awfullllll") < 0);
    assert_true(en_score("Zzzzz") == 0); /* no word under the run */
    static const char *const pos[] = {
        "See you tomorrow :)", "See you tomorrow :-)", "See you tomorrow :D", "See you tomorrow ;)",
        "See you tomorrow =)", "See you tomorrow <3",  "See you tomorrow :P"};
    static const char *const neg[] = {"See you tomorrow :(", "See you tomorrow :-(",
                                      "See you tomorrow :/"};
    for (size_t i = 0; i < sizeof pos / sizeof *pos; i++)
        if (!(en_score(pos[i]) > 0))
            fail_msg("\"%s\": score %f, expected positive", pos[i], en_score(pos[i]));
    for (size_t i = 0; i < sizeof neg / sizeof *neg; i++)
        if (!(en_score(neg[i]) < 0))
            fail_msg("\"%s\": score %f, expected negative", neg[i], en_score(neg[i]));
    /* Colons that are no emoticons: a link, a time, a list. */
    static const char *const none[] = {"See http://example.org/d", "See you at 10:30",
                                       "Items: d) the lid", "Note:pick it up", "See you tomorrow"};
    for (size_t i = 0; i < sizeof none / sizeof *none; i++)
        if (en_score(none[i]) != 0)
            fail_msg("\"%s\": score %f, expected 0", none[i], en_score(none[i]));
}

/* A text without a polar word leans negative when it is negated (the
 * tie-break for a score of exactly 0); a polar word decides over it. */
static void test_english_negation_leans_negative(void **state)
{
    (void)state;
    static const char *const negated[] = {
        "I won't be back.",
        "It didn't do anything for me.",
        "Never again.",
        "Doesn't charge the phone.",
        "No flavour at all.",
        "I can't log in",
        "Nothing happens when I press the button.",
    };
    for (size_t i = 0; i < sizeof negated / sizeof *negated; i++) {
        struct sa_result r;
        sa_analyse(model, negated[i], strlen(negated[i]), "en", &r);
        if (strcmp(r.label, "negative") != 0)
            fail_msg("\"%s\": %s %f, expected negative", negated[i], r.label, r.score);
    }
    /* Two negators lean further than one. */
    assert_true(en_score("I don't think I will not go") < en_score("I don't think I will go"));
    /* Without a negator nothing leans. */
    assert_true(en_score("I will be back.") == 0);
    assert_true(en_score("The phone is black.") == 0);
    /* A polar word decides, the lean is only for texts without one. */
    assert_true(en_score("Not bad at all.") > 0);
    assert_true(en_score("I can't recommend it enough, great!") > 0);
}

/* Inflected forms the lexicon does not list find their lemma. */
static void test_english_lemmas(void **state)
{
    (void)state;
    struct sa_lex *lx = sa_lex_new();
    struct sa_entry pos = {2, 0, 0}, boost = {0.293f, 0, SA_BOOST};
    const char *words[] = {"love", "stop", "happy", "disappoint", "recommend", "big", "nice"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        assert_int_equal(sa_lex_put(lx, words[i], strlen(words[i]), &pos), 0);
    assert_int_equal(sa_lex_put(lx, "very", 4, &boost), 0);
    static const char *const forms[][2] = {
        {"loving", "love"},
        {"loved", "love"},
        {"stopped", "stop"},
        {"happiest", "happy"},
        {"happier", "happy"},
        {"happily", "happy"},
        {"happiness", "happy"},
        {"disappointing", "disappoint"},
        {"recommended", "recommend"},
        {"recommends", "recommend"},
        {"bigger", "big"},
        {"nicest", "nice"},
    };
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        const struct sa_entry *e = sa_en_lookup(lx, forms[i][0], strlen(forms[i][0]));
        if (e != sa_lex_get(lx, forms[i][1], strlen(forms[i][1])))
            fail_msg("%s: not read as %s", forms[i][0], forms[i][1]);
    }
    /* No lemma for words that merely end like one, nor for modifiers. */
    const char *none[] = {"thing", "red", "verys", "sing", "bed"};
    for (size_t i = 0; i < sizeof none / sizeof *none; i++)
        if (sa_en_lookup(lx, none[i], strlen(none[i])))
            fail_msg("%s matched a lemma", none[i]);
    sa_lex_free(lx);
}

/* Short texts decided by their function words, without textcat. */
static void test_language_from_function_words(void **state)
{
    (void)state;
    static const struct {
        const char *text, *lang;
    } cases[] = {
        {"Works great!", "en"},
        {"Doesn't hold charge.", "en"},
        {"Bad Quality.", "en"},
        {"There was NO chemistry between Ben and the others in this film.", "en"},
        {"hangi renkleri var", "tr"},
        {"Teslimat ücretsiz mi? Kargo ücreti ne kadar?", "tr"},
        {"Ürün kutusunda neler var?", "tr"},
        {"Das Paket ist heute angekommen und alles ist in Ordnung, danke schön.", "de"},
        {"El paquete llegó ayer y todo está perfecto, muchas gracias por la atención.", "es"},
        /* Azerbaijani shares Turkish function words; its ə keeps it apart. */
        {"Bu məhsul çox gözəldir, bir daha alacağam və dostlarıma da tövsiyə edəcəyəm.", "az"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct sa_result r;
        sa_analyse(model, cases[i].text, strlen(cases[i].text), NULL, &r);
        if (strcmp(r.lang, cases[i].lang) != 0)
            fail_msg("\"%s\": lang %s, expected %s", cases[i].text, r.lang, cases[i].lang);
    }
}

/* Text that does not end in a NUL, up against a page nothing may read:
 * language identification (textcat) must not read past its bytes.  The
 * first case is the input the fuzz target crashed on when textcat was
 * handed the caller's bytes (it reads one past the size it is given). */
static void test_identification_reads_only_the_text(void **state)
{
    (void)state;
    static const char crash[] = "-\x01ri\xc5"
                                "aipS\x9fil\xc3\xa2 gel\x8f"
                                "edi66\xa4"
                                "6666666666666\x8c"
                                "66\x88\x88"
                                "2?um \xf0\x9f\x98\xa1";
    static const char *const plain[] = {
        "Paket angekommen, Ordnung, danke",
        "Le colis est arrivé hier, tout est parfait, merci beaucoup pour votre attention et "
        "votre patience, vraiment. Je recommande cette boutique à tous mes amis sans hésiter.",
    };
    long page = sysconf(_SC_PAGESIZE);
    char *map =
        mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(map != MAP_FAILED);
    assert_int_equal(mprotect(map + page, (size_t)page, PROT_NONE), 0);
    for (size_t i = 0; i < 1 + sizeof plain / sizeof *plain; i++) {
        const char *text = i == 0 ? crash : plain[i - 1];
        size_t len = i == 0 ? sizeof crash - 1 : strlen(text);
        char *at = map + page - len; /* its last byte is the page's */
        memcpy(at, text, len);
        struct sa_result r;
        assert_int_equal(sa_analyse(model, at, len, NULL, &r), 0);
        assert_true(r.lang[0] != '\0');
    }
    munmap(map, 2 * (size_t)page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_icu_folding),
        cmocka_unit_test(test_suffix_aware_lemmas),
        cmocka_unit_test(test_verbal_negation),
        cmocka_unit_test(test_degil_yok_hic),
        cmocka_unit_test(test_intensifiers),
        cmocka_unit_test(test_ama_fakat_weights_the_clause_after),
        cmocka_unit_test(test_emoji_and_punctuation),
        cmocka_unit_test(test_language_identification),
        cmocka_unit_test(test_fold_without_icu_equals_icu),
        cmocka_unit_test(test_turkish_complaint_rules),
        cmocka_unit_test(test_degil_stops_at_a_comma),
        cmocka_unit_test(test_english_vader_rules),
        cmocka_unit_test(test_english_lemmas),
        cmocka_unit_test(test_english_review_words),
        cmocka_unit_test(test_language_from_function_words),
        cmocka_unit_test(test_english_afinn_words),
        cmocka_unit_test(test_english_derivations),
        cmocka_unit_test(test_english_elongation_and_emoticons),
        cmocka_unit_test(test_english_negation_leans_negative),
        cmocka_unit_test(test_identification_reads_only_the_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
