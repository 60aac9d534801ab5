/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the libFuzzer targets under tests/fuzz/. */
#ifndef KANAL_FUZZ_H
#define KANAL_FUZZ_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The input as a stream of choices: a target takes small numbers (split
 * points, flags) from the front and hands the rest on as bytes. */
struct fuzz_in {
    const uint8_t *p;
    size_t n;
};

static inline unsigned fuzz_byte(struct fuzz_in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

/* Up to max bytes from the front (fewer when the input ends). */
static inline size_t fuzz_take(struct fuzz_in *in, size_t max, const uint8_t **out)
{
    size_t k = max < in->n ? max : in->n;
    *out = in->p;
    in->p += k;
    in->n -= k;
    return k;
}

/* The input as a NUL-terminated string (malloc'ed): what a parser that
 * takes C strings sees. */
static inline char *fuzz_strndup(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* The next piece of the input up to a NUL byte (or the end), as a C string;
 * malloc'ed.  Targets that take several strings read them this way. */
static inline char *fuzz_str(struct fuzz_in *in)
{
    const uint8_t *z = memchr(in->p, 0, in->n);
    size_t k = z ? (size_t)(z - in->p) : in->n;
    char *s = fuzz_strndup(in->p, k);
    in->p += k + (z != NULL);
    in->n -= k + (z != NULL);
    return s;
}

/* A finding that is not a memory error: print why and abort, so that
 * libFuzzer keeps the input as a crash. */
#define FUZZ_FAIL(...)                         \
    do {                                       \
        fprintf(stderr, "fuzz: " __VA_ARGS__); \
        fputc('\n', stderr);                   \
        abort();                               \
    } while (0)

#endif
