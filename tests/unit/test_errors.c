/* SPDX-License-Identifier: Apache-2.0 */
/* kanal's error codes: one table (common/kanal_errors.h) names them for
 * kanald and for libkanal.  Every code has a name, no two codes share a
 * value, and both strerror functions answer from the table. */
#include "unit.h"

#include <errno.h>

#include <lmdb.h>

#include <kanal/reader.h>

#include "error.h"
#include "kanal_errors.h"

#define N_NAMES (sizeof kanal_error_names / sizeof kanal_error_names[0])

static void test_every_code_has_one_name(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_NAMES; i++) {
        const struct kanal_error_name *e = &kanal_error_names[i];
        assert_non_null(e->text);
        assert_true(strlen(e->text) > 0);
        assert_true(strncmp(e->symbol, "KANAL_E", 7) == 0);
        /* In kanal's reserved range, clear of errno's and LMDB's. */
        assert_true(e->code <= KANAL_EBASE - 1 && e->code > KANAL_EBASE - 1000);
        assert_false(e->code <= MDB_KEYEXIST + 0 && e->code >= MDB_LAST_ERRCODE);
        for (size_t j = 0; j < i; j++) {
            if (kanal_error_names[j].code == e->code)
                fail_msg("%s and %s are both %d", kanal_error_names[j].symbol, e->symbol, e->code);
            if (!strcmp(kanal_error_names[j].symbol, e->symbol))
                fail_msg("%s is listed twice", e->symbol);
        }
    }
}

/* Every code of the plugin ABI's range up to KANAL_ELAST, and every code of
 * the reader's, is in the table: a code added to plugin.h or reader.h
 * without a name fails here. */
static void test_public_codes_are_named(void **state)
{
    (void)state;
    for (int code = KANAL_EBASE - 1; code >= KANAL_ELAST; code--)
        if (!kanal_error_text(code))
            fail_msg("plugin.h code %d has no name", code);
    static const int reader_codes[] = {KANAL_EFORMAT, KANAL_ENOTSTORE, KANAL_ECURSOR};
    for (size_t i = 0; i < sizeof reader_codes / sizeof reader_codes[0]; i++)
        assert_non_null(kanal_error_text(reader_codes[i]));
    assert_int_equal(N_NAMES, (size_t)(KANAL_EBASE - KANAL_ELAST) + 3);
    assert_null(kanal_error_text(KANAL_ELAST - 1));
    assert_null(kanal_error_text(-EINVAL));
}

/* kanald's and libkanal's strerror give the same text, the table's. */
static void test_both_strerrors_use_the_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_NAMES; i++) {
        int code = kanal_error_names[i].code;
        assert_string_equal(kanal_strerror(code), kanal_error_names[i].text);
        assert_string_equal(kanal_reader_strerror(code), kanal_error_names[i].text);
    }
    assert_string_equal(kanal_strerror(0), "success");
    assert_string_equal(kanal_reader_strerror(0), "success");
    assert_string_equal(kanal_strerror(-ENOENT), strerror(ENOENT));
    assert_string_equal(kanal_reader_strerror(-ENOENT), strerror(ENOENT));
    assert_string_equal(kanal_strerror(KANAL_ELAST - 1), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_one_name),
        cmocka_unit_test(test_public_codes_are_named),
        cmocka_unit_test(test_both_strerrors_use_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
