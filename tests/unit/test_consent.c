/* SPDX-License-Identifier: Apache-2.0 */
/* The outbox's consent check fails closed, on a real store in a temp dir:
 * a recipient is "may send" only when the store was read and says so.  A
 * handle that cannot be normalized is CONSENT_UNKNOWN (the message fails);
 * a store that cannot be read now (its reader table full, or its
 * environment closed after a failed reopen) is CONSENT_RETRY, never
 * CONSENT_GIVEN. */
#include "unit.h"

#include <errno.h>

#include <lmdb.h>

#include "contacts_api.h"
#include "host.h"
#include "outbox_api.h"
#include "outbox_int.h"
#include "store.h"

struct fixture {
    char *dir, *store_dir;
    struct store store; /* the contacts read it */
    struct contacts_api contacts;
    struct outbox_ties ties;
    struct outbox ob; /* its consent hook is kanald's own (outbox_env_of) */
};

static int opted_out(void *contacts, const char *handle, const char *channel)
{
    return contacts_opted_out(contacts, handle, channel);
}

/* handle -> contact c1, whose consent on channel is state. */
static void put_contact_on(struct store *st, const char *handle, const char *channel,
                           const char *state)
{
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    char hv[64];
    int hl = snprintf(hv, sizeof hv, "c1%c{}", '\0');
    MDB_val hk = {strlen(handle), (void *)handle}, hval = {(size_t)hl, hv};
    assert_int_equal(mdb_put(txn, st->handles, &hk, &hval, 0), 0);
    char cv[256];
    int cl = snprintf(cv, sizeof cv, "{\"id\":\"c1\",\"consent\":{\"%s\":{\"state\":\"%s\"}}}",
                      channel, state);
    MDB_val ck = {2, "c1"}, cval = {(size_t)cl, cv};
    assert_int_equal(mdb_put(txn, st->contacts, &ck, &cval, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

static void put_contact(struct store *st, const char *handle, const char *state)
{
    put_contact_on(st, handle, "webhook", state);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = unit_tempdir();
    f->store_dir = unit_path(f->dir, "store");
    char err[512];
    int r = store_open(&f->store, f->store_dir, SYNC_NONE, 0, err, sizeof err);
    if (r)
        fail_msg("store_open: %d: %s", r, err);
    f->contacts = (struct contacts_api){.store = &f->store};
    f->ties = (struct outbox_ties){.store = &f->store,
                                   .normalize_handle = host_api.normalize_handle,
                                   .contacts = &f->contacts,
                                   .opted_out = opted_out};
    outbox_env_of(&f->ties, &f->ob.env);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(&f->store);
    free(f->store_dir);
    unit_rmtree(f->dir);
    free(f);
    return 0;
}

static enum outbox_consent consent(struct fixture *f, const char *to, const char **why)
{
    return outbox__consent(&f->ob, to, "webhook", NULL, NULL, why);
}

static void test_given_and_opted_out(void **state)
{
    struct fixture *f = *state;
    const char *why;
    /* Nobody has the handle: nobody withdrew consent. */
    assert_int_equal(consent(f, "email:ayse@example.com", &why), CONSENT_GIVEN);
    put_contact(&f->store, "email:ayse@example.com", "optin");
    assert_int_equal(consent(f, "email:ayse@example.com", &why), CONSENT_GIVEN);
    put_contact(&f->store, "email:ayse@example.com", "optout");
    assert_int_equal(consent(f, "email:ayse@example.com", &why), CONSENT_OPTED_OUT);
    /* The handle as the CRM wrote it is normalized before the look-up. */
    assert_int_equal(consent(f, "email:Ayse@Example.COM", &why), CONSENT_OPTED_OUT);
    /* Another channel's opt-out is not this one's. */
    const char *w2;
    assert_int_equal(outbox__consent(&f->ob, "email:ayse@example.com", "email", NULL, NULL, &w2),
                     CONSENT_GIVEN);
    /* A handle the channel cannot reach is nobody it could ask. */
    assert_int_equal(outbox__consent(&f->ob, "email:ayse@example.com", "sms", NULL, NULL, &w2),
                     CONSENT_UNKNOWN);
    assert_non_null(strstr(w2, "phone:"));
}

/* A `to` may be the channel's own address for a person; it is looked up as
 * the handle the channel records that person under, so a bare address
 * does not get round an opt-out.  A public X post has no recipient. */
static void test_channel_addresses_are_looked_up(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *handle, *channel, *to, *country, *page;
    } cases[] = {
        {"email:ayse@example.com", "email", "Ayse@Example.com", NULL, NULL},
        {"phone:+905321234567", "sms", "+90 532 123 45 67", NULL, NULL},
        {"phone:+905321234567", "sms", "0532 123 45 67", "TR", NULL},
        {"wa:905321234567", "whatsapp", "+905321234567", NULL, NULL},
        {"wa:905321234567", "whatsapp", "905321234567", NULL, NULL},
        {"fb:1000/6021234567890123", "facebook", "6021234567890123", NULL, "1000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        teardown(state);
        setup(state);
        f = *state;
        const char *why;
        enum outbox_consent c = outbox__consent(&f->ob, cases[i].to, cases[i].channel,
                                                cases[i].country, cases[i].page, &why);
        if (c != CONSENT_GIVEN)
            fail_msg("%s on %s before the opt-out: %d", cases[i].to, cases[i].channel, c);
        put_contact_on(&f->store, cases[i].handle, cases[i].channel, "optout");
        c = outbox__consent(&f->ob, cases[i].to, cases[i].channel, cases[i].country, cases[i].page,
                            &why);
        if (c != CONSENT_OPTED_OUT)
            fail_msg("%s on %s after the opt-out of %s: %d", cases[i].to, cases[i].channel,
                     cases[i].handle, c);
    }
    /* Without a way to make a handle of it: unknown, not given. */
    const char *why;
    assert_int_equal(outbox__consent(&f->ob, "6021234567890123", "facebook", NULL, NULL, &why),
                     CONSENT_UNKNOWN);
    assert_int_equal(outbox__consent(&f->ob, "ayse@example.com", "webhook", NULL, NULL, &why),
                     CONSENT_UNKNOWN);
    assert_int_equal(outbox__consent(&f->ob, "x:public", "webhook", NULL, NULL, &why),
                     CONSENT_UNKNOWN);
    /* A public post is addressed to nobody, even with the store unreadable. */
    mdb_env_close(f->store.env);
    f->store.env = NULL;
    assert_int_equal(outbox__consent(&f->ob, "x:public", "twitter", NULL, NULL, &why),
                     CONSENT_GIVEN);
    assert_int_equal(outbox__consent(&f->ob, "public", "twitter", NULL, NULL, &why), CONSENT_GIVEN);
    assert_int_equal(outbox__consent(&f->ob, "x:12345", "twitter", NULL, NULL, &why), CONSENT_RETRY);
}

static void test_unnormalizable_handles_are_unknown(void **state)
{
    struct fixture *f = *state;
    put_contact(&f->store, "email:ayse@example.com", "optout");
    static const char *const bad[] = {
        "ayse@example.com",        /* no scheme */
        "email:",                  /* no value */
        "email:no-at-sign",        /* not an address */
        "EMAIL:ayse@example.com",  /* scheme not lower-case */
        "phone:12",                /* not E.164 */
        "phone:+90 abc 555",       /* not digits */
        "phone:05321234567",       /* national, and no default_country */
        "wa:90532abc",             /* not numeric */
        "email:a b@example.com",   /* white space */
        "email:a\x01@example.com", /* control character */
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why = NULL;
        enum outbox_consent c = consent(f, bad[i], &why);
        if (c != CONSENT_UNKNOWN)
            fail_msg("'%s': consent %d, expected CONSENT_UNKNOWN", bad[i], c);
        assert_non_null(why);
    }
}

/* Every reader slot taken: a read transaction cannot begin (a real LMDB
 * failure, MDB_READERS_FULL).  The opted-out recipient must not come out
 * as "may send"; once the slots are free, the answer is right again. */
static void test_read_failure_is_retry_not_send(void **state)
{
    struct fixture *f = *state;
    put_contact(&f->store, "email:ayse@example.com", "optout");
    enum { MAX = 1024 };
    MDB_txn **held = calloc(MAX, sizeof *held);
    assert_non_null(held);
    size_t n = 0;
    while (n < MAX && store_read_begin(&f->store, &held[n]) == 0)
        n++;
    assert_true(n < MAX); /* the reader table filled up */
    for (int i = 0; i < 2; i++) {
        const char *to = i ? "email:ayse@example.com" : "email:nobody@example.com";
        const char *why = NULL;
        assert_int_equal(consent(f, to, &why), CONSENT_RETRY);
        assert_non_null(why);
    }
    while (n)
        store_read_end(&f->store, held[--n]);
    free(held);
    const char *why;
    assert_int_equal(consent(f, "email:ayse@example.com", &why), CONSENT_OPTED_OUT);
    assert_int_equal(consent(f, "email:nobody@example.com", &why), CONSENT_GIVEN);
}

/* The environment closed (what a failed store_reopen leaves): retry. */
static void test_closed_environment_is_retry(void **state)
{
    struct fixture *f = *state;
    mdb_env_close(f->store.env);
    f->store.env = NULL;
    const char *why = NULL;
    assert_int_equal(consent(f, "email:ayse@example.com", &why), CONSENT_RETRY);
    assert_non_null(why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_given_and_opted_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_addresses_are_looked_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unnormalizable_handles_are_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_failure_is_retry_not_send, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_environment_is_retry, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
