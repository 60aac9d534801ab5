/* SPDX-License-Identifier: Apache-2.0 */
/* The e-mail plugin's HTML-to-text reduction (plugins/email/html.c), on the
 * inputs that once stopped its scan: '&' that starts no character
 * reference, truncated and out-of-range references, '<' that opens no tag,
 * unterminated comments and elements.  Every call must return; alarm()
 * turns a scan that no longer advances into a failure, not a hung test. */
#include "unit.h"

#include <unistd.h>

#include "email.h"

static void expect(const char *html, const char *want)
{
    char *got = html_to_text(html, strlen(html));
    assert_non_null(got);
    if (strcmp(got, want) != 0)
        fail_msg("html_to_text(\"%s\") = \"%s\", expected \"%s\"", html, got, want);
    free(got);
}

static void test_bare_ampersand_is_text(void **state)
{
    (void)state;
    expect("Tom & Jerry", "Tom & Jerry");
    expect("Tom&Jerry", "Tom&Jerry");
    expect("&", "&");
    expect("a &", "a &");
    expect("ends with &", "ends with &");
    expect("&&&&", "&&&&");
    expect("&&amp;&", "&&&");
    expect("<p>R&D</p><p>Q&A;</p>", "R&D\n\nQ&A;");
    expect("x & ; y", "x & ; y");
    expect("&;", "&;");
}

static void test_truncated_references_are_text(void **state)
{
    (void)state;
    expect("&am", "&am");
    expect("&amp", "&amp");
    expect("a &am b", "a &am b");
    expect("&#", "&#");
    expect("&#x", "&#x");
    expect("&#12", "&#12");
    expect("&#x1F600", "&#x1F600");
    expect("&#;", "&#;");
    expect("&#x;", "&#x;");
    expect("&#12a;", "&#12a;");
    expect("&#xZZ;", "&#xZZ;");
    /* What strtoul would have taken: blanks, signs, a second "0x". */
    expect("&# 65;", "&# 65;");
    expect("&#+65;", "&#+65;");
    expect("&#-65;", "&#-65;");
    expect("&#x0x41;", "&#x0x41;");
    /* A ';' too far away to end a reference. */
    expect("&averyveryverylongname;", "&averyveryverylongname;");
}

static void test_numeric_references_out_of_range(void **state)
{
    (void)state;
    expect("&#0;", "\xEF\xBF\xBD");
    expect("&#xD800;", "\xEF\xBF\xBD");
    expect("&#xDFFF;", "\xEF\xBF\xBD");
    expect("&#x110000;", "\xEF\xBF\xBD");
    expect("&#99999999;", "\xEF\xBF\xBD");
    expect("&#xFFFFFFFF;", "\xEF\xBF\xBD");
    expect("&#1;", "\xEF\xBF\xBD");
    expect("&#x7F;", "\xEF\xBF\xBD");
    expect("&#99999999999999999999999999999999;", "\xEF\xBF\xBD");
    expect("&#x00000000000000000000000000000041;", "A");
    expect("&#x10FFFF;", "\xF4\x8F\xBF\xBF");
    /* White space by reference collapses like white space. */
    expect("a&#9;&#10;&#32;b", "a b");
}

static void test_unknown_named_references_are_text(void **state)
{
    (void)state;
    expect("&bogus;", "&bogus;");
    expect("&AMP;", "&AMP;"); /* names are case-sensitive; kanal knows "amp" */
    expect("fish &chips; peas", "fish &chips; peas");
}

static void test_ordinary_references(void **state)
{
    (void)state;
    expect("&amp;", "&");
    expect("&lt;b&gt;", "<b>");
    expect("it&#39;s", "it's");
    expect("&#x263A;", "\xE2\x98\xBA");
    expect("&#X263a;", "\xE2\x98\xBA");
    expect("&#128512;", "\xF0\x9F\x98\x80");
    expect("a&nbsp;b", "a b");
    expect("a&#160;b", "a b");
    expect("&quot;&apos;&euro;&hellip;", "\"'\xE2\x82\xAC\xE2\x80\xA6");
}

static void test_references_split_by_tags(void **state)
{
    (void)state;
    expect("&am<b>p;", "&amp;");
    expect("&<b>amp;</b>", "&amp;");
    expect("&#<i>65;</i>", "&#65;");
    expect("&#x<i>41</i>;", "&#x41;");
}

static void test_lone_angle_brackets_are_text(void **state)
{
    (void)state;
    expect("1 < 2", "1 < 2");
    expect("I <3 it", "I <3 it");
    expect("a <= b", "a <= b");
    expect("ends with <", "ends with <");
    expect("<", "<");
    expect("<<<<", "<<<<");
    expect("x </ y", "x </ y");
    expect("a < b & c > d", "a < b & c > d");
}

static void test_unterminated_markup_ends(void **state)
{
    (void)state;
    expect("before <b unterminated", "before");
    expect("before <!-- never closed", "before");
    expect("before <!--", "before");
    expect("before <!-", "before");
    expect("before <!---->after", "before after");
    expect("a<!-- x -->b", "ab");
    expect("before <![CDATA[ x ]]> after", "before after");
    expect("<?xml version=\"1.0\"?>text", "text");
    expect("keep <script>while(1);", "keep");
    expect("keep <style>p{}</sty", "keep");
    expect("<script>a</script>b<style>c</style>d", "bd");
    expect("<SCRIPT>x</Script>y", "y");
}

static void test_head_without_end_tag(void **state)
{
    (void)state;
    expect("<html><head><title>T</title><body><p>Hello</p></body>", "Hello");
    expect("<head><meta charset=utf-8></head><p>Hi</p>", "Hi");
}

static void test_structure(void **state)
{
    (void)state;
    expect("<p>One</p><p>Two<br>Three</p><ul><li>a</li><li>b</li></ul>",
           "One\n\nTwo\nThree\n\n- a\n- b");
    expect("<table><tr><td>x</td><td>y</td></tr></table>", "x y");
    expect("  lots   of\n\n  space  ", "lots of space");
    expect("", "");
}

/* Every prefix of a document full of corners: a cut may fall anywhere. */
static void test_every_prefix_returns(void **state)
{
    (void)state;
    static const char doc[] =
        "<html><head><style>p{}</style></head><body><!-- c --><p>Tom & Jerry &amp; "
        "&#x1F600; &#12 &#xD800; &bogus; 1 < 2 <![CDATA[x]]></p><script>y</script>"
        "<li>a&nbsp;b</li>&&&&<</body></html>";
    for (size_t n = 0; n <= sizeof doc - 1; n++) {
        char *got = html_to_text(doc, n);
        assert_non_null(got);
        free(got);
    }
    expect(doc, "Tom & Jerry & \xF0\x9F\x98\x80 &#12 \xEF\xBF\xBD &bogus; 1 < 2\n\n- a b\n&&&&<");
}

int main(void)
{
    alarm(60); /* a scan that stops advancing fails the test */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bare_ampersand_is_text),
        cmocka_unit_test(test_truncated_references_are_text),
        cmocka_unit_test(test_numeric_references_out_of_range),
        cmocka_unit_test(test_unknown_named_references_are_text),
        cmocka_unit_test(test_ordinary_references),
        cmocka_unit_test(test_references_split_by_tags),
        cmocka_unit_test(test_lone_angle_brackets_are_text),
        cmocka_unit_test(test_unterminated_markup_ends),
        cmocka_unit_test(test_head_without_end_tag),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_every_prefix_returns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
