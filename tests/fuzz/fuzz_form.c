/* SPDX-License-Identifier: Apache-2.0 */
/* The form and query decoder (daemon/base/form.c): every pair it reports is two
 * C strings no longer than the input, form_unescape stays within len + 1,
 * and form_get finds what form_decode reported first under that name.
 * Input: a name (up to a NUL byte), then the form text. */
#include "fuzz.h"

#include "form.h"

struct first {
    const char *name;
    char *value;
    size_t pairs, len;
};

static int on_pair(void *arg, const char *name, const char *value)
{
    struct first *f = arg;
    if (strlen(name) > f->len || strlen(value) > f->len)
        FUZZ_FAIL("form_decode made a pair longer than its input");
    if (!f->value && strcmp(name, f->name) == 0)
        f->value = strdup(value);
    f->pairs++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    char *name = fuzz_str(&in);
    const char *text = (const char *)in.p;
    size_t len = in.n;

    /* form_unescape: exactly len + 1 bytes, as form.h says. */
    char *out = malloc(len + 1);
    size_t n = form_unescape(text, len, out, 1);
    if (n > len)
        FUZZ_FAIL("form_unescape wrote %zu bytes for %zu", n, len);
    free(out);

    struct first f = {.name = name, .len = len};
    form_decode(text, len, on_pair, &f);
    char *got = form_get(text, len, name);
    if (f.value && (!got || strcmp(got, f.value) != 0))
        FUZZ_FAIL("form_get('%s') = '%s', form_decode said '%s'", name, got ? got : "(none)",
                  f.value);
    free(got);
    free(f.value);
    free(name);
    return 0;
}
