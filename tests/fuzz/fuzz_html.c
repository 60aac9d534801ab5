/* SPDX-License-Identifier: Apache-2.0 */
/* html_to_text (plugins/email/html.c), the text of HTML mail: any bytes in,
 * a C string out, never longer than its input needs (entities expand to at
 * most 4 bytes of UTF-8 from at least 4 of input; a line break per tag).
 * A hang (once a loop on a stray '&') shows as a libFuzzer timeout (-timeout=10). */
#include "fuzz.h"

#include "email.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *html = fuzz_strndup(data, size);
    char *text = html_to_text(html, size);
    if (!text)
        FUZZ_FAIL("html_to_text returned NULL (out of memory?)");
    if (strlen(text) > 2 * size + 16)
        FUZZ_FAIL("%zu bytes of text from %zu of HTML", strlen(text), size);
    free(text);
    free(html);
    return 0;
}
