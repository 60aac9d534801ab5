/* SPDX-License-Identifier: Apache-2.0 */
/* The listen plugin's matching and robots.txt rules (plugins/listen/lmatch.c)
 * and its time formats (lparse.c), on the classes of input a listening
 * analyst and a site operator rely on: the four Turkish i's and the
 * Turkish letters in either case, suffixes after a brand name, word
 * boundaries, phrases, exclusions; RFC 9309's groups, longest match,
 * Allow on a tie, '*' and '$'. */
#include "unit.h"

#include "lmatch.h"
#include "lparse.h"

static int matches(const char *keywords, const char *exclude, const char *text)
{
    struct lmatch m;
    assert_int_equal(lmatch_init(&m, keywords, exclude), 0);
    int r = lmatch_test(&m, NULL, text);
    lmatch_free(&m);
    return r;
}

static void test_turkish_i_and_letters_fold_in_either_case(void **state)
{
    (void)state;
    /* İ/i and I/ı: every pairing, keyword and text either way round. */
    const char *forms[] = {"iade", "İADE", "IADE", "ıade", "İade", "Iade"};
    for (size_t k = 0; k < 6; k++)
        for (size_t t = 0; t < 6; t++) {
            char text[64];
            snprintf(text, sizeof text, "ürün %s edilmedi", forms[t]);
            if (!matches(forms[k], NULL, text))
                fail_msg("keyword %s does not match \"%s\"", forms[k], text);
        }
    /* Turkish letters with and without their marks, upper and lower. */
    assert_true(matches("şikayet", NULL, "ŞİKAYET ediyorum"));
    assert_true(matches("şikayet", NULL, "sikayet ediyorum"));
    assert_true(matches("sikayet", NULL, "Şikâyet ediyorum"));
    assert_true(matches("çağrı merkezi", NULL, "CAGRI MERKEZI kapalı"));
    assert_true(matches("göğüs", NULL, "GÖĞÜS"));
    assert_true(matches("ödeme", NULL, "ÖDEME alınmadı"));
    assert_true(matches("üyelik", NULL, "ÜYELİK iptal"));
}

static void test_suffixes_follow_but_words_start_at_a_boundary(void **state)
{
    (void)state;
    assert_true(matches("turkcell", NULL, "TURKCELL'in faturası"));
    assert_true(matches("turkcell", NULL, "turkcellden memnun değilim"));
    assert_true(matches("turkcell", NULL, "Turkcell’e geçtim")); /* curly apostrophe */
    assert_true(matches("turkcell", NULL, "(turkcell)"));
    /* Hashtags and handles name the brand too. */
    assert_true(matches("turkcell", NULL, "#Turkcell rezalet"));
    assert_true(matches("turkcell", NULL, "@TurkcellHizmet cevap verin"));
    assert_true(matches("#turkcell", NULL, "#turkcell"));
    assert_false(matches("turkcell", NULL, "aturkcell"));
    assert_false(matches("turkcell", NULL, "turk cell"));
    /* A phrase matches its words in order, whatever the spaces and case. */
    assert_true(matches("hat taşıma", NULL, "HAT   TAŞIMA işlemi"));
    assert_true(matches("hat taşıma", NULL, "hat taşımasını yapmadılar"));
    assert_false(matches("hat taşıma", NULL, "taşıma hattı"));
}

static void test_keywords_lists_and_exclusions(void **state)
{
    (void)state;
    assert_true(matches("vodafone, turkcell", NULL, "Turkcell"));
    assert_true(matches("vodafone, turkcell", NULL, "VODAFONE"));
    assert_false(matches("vodafone, turkcell", NULL, "türk telekom"));
    assert_false(matches("turkcell", "reklam", "Turkcell REKLAM"));
    assert_false(matches("turkcell", "kampanya kodu", "turkcell kampanya kodu: X"));
    assert_true(matches("turkcell", "kampanya kodu", "turkcell kampanya bitti"));
    /* No keywords: everything but the exclusions. */
    assert_true(matches(NULL, "reklam", "herhangi bir şey"));
    assert_false(matches(NULL, "reklam", "reklamdır"));
    /* Empty pieces and punctuation-only keywords are ignored. */
    assert_true(matches(",,turkcell,,", NULL, "turkcell"));
    assert_false(matches(",,turkcell, ;,", NULL, "vodafone"));
}

static void test_robots_groups_and_longest_match(void **state)
{
    (void)state;
    const char *r = "User-agent: *\nDisallow: /private\nAllow: /private/ok\n\n"
                    "User-agent: otherbot\nDisallow: /\n";
    assert_false(lrobots_allowed(r, "kanal", "/private/feed.xml"));
    assert_true(lrobots_allowed(r, "kanal", "/private/ok.xml"));
    assert_true(lrobots_allowed(r, "kanal", "/public"));
    /* A group naming kanal replaces "*" for kanal. */
    const char *own = "User-agent: *\nDisallow: /\n\nUser-agent: Kanal\nDisallow: /admin\n";
    assert_true(lrobots_allowed(own, "kanal", "/feed"));
    assert_false(lrobots_allowed(own, "kanal", "/admin/x"));
    /* Several agents sharing one group. */
    const char *shared = "User-agent: a\nUser-agent: kanal\nDisallow: /x\n";
    assert_false(lrobots_allowed(shared, "kanal", "/x/1"));
    /* Allow wins a tie; an empty Disallow allows all; comments and CRLF. */
    assert_true(lrobots_allowed("User-agent: *\r\nDisallow: /a\r\nAllow: /a\r\n", "kanal", "/a"));
    assert_true(lrobots_allowed("User-agent: *\nDisallow:\n", "kanal", "/anything"));
    assert_false(lrobots_allowed("User-agent: * # all\nDisallow: /p # no\n", "kanal", "/p"));
    assert_true(lrobots_allowed(NULL, "kanal", "/"));
    assert_true(lrobots_allowed("", "kanal", "/"));
}

static void test_robots_wildcards(void **state)
{
    (void)state;
    const char *r = "User-agent: *\nDisallow: /*.php$\nDisallow: /search*q=\nAllow: /*.php?ok$\n";
    assert_false(lrobots_allowed(r, "kanal", "/index.php"));
    assert_true(lrobots_allowed(r, "kanal", "/index.php5"));
    assert_true(lrobots_allowed(r, "kanal", "/index.php?ok"));
    assert_false(lrobots_allowed(r, "kanal", "/search/x?a=1&q=turkcell"));
    assert_true(lrobots_allowed(r, "kanal", "/search/x"));
    /* More than four '*' never match (no exponential matching). */
    assert_true(lrobots_allowed("User-agent: *\nDisallow: /*a*a*a*a*a\n", "kanal", "/aaaaaa"));
}

static void test_times(void **state)
{
    (void)state;
    assert_int_equal(lparse_time("2026-12-05T10:15:00+03:00"), 1796454900000LL);
    assert_int_equal(lparse_time("2026-12-05T07:15:00Z"), 1796454900000LL);
    assert_int_equal(lparse_time("2026-12-05T07:15:00.250Z"), 1796454900000LL);
    assert_int_equal(lparse_time("Sat, 05 Dec 2026 07:15:00 GMT"), 1796454900000LL);
    assert_int_equal(lparse_time("05.12.2026 10:15"), 1796454900000LL);         /* Türkiye time */
    assert_int_equal(lparse_time("05.12.2026 10:15 ~ 11:20"), 1796454900000LL); /* edited */
    assert_int_equal(lparse_time("yesterday"), -1);
    assert_int_equal(lparse_time(""), -1);
    assert_int_equal(lparse_time(NULL), -1);
    assert_int_equal(lparse_time("2026-13-05T10:15:00Z"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_turkish_i_and_letters_fold_in_either_case),
        cmocka_unit_test(test_suffixes_follow_but_words_start_at_a_boundary),
        cmocka_unit_test(test_keywords_lists_and_exclusions),
        cmocka_unit_test(test_robots_groups_and_longest_match),
        cmocka_unit_test(test_robots_wildcards),
        cmocka_unit_test(test_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
