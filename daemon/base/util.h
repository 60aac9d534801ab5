/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers shared by the daemon's modules. */
#ifndef KANAL_UTIL_H
#define KANAL_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

int64_t util_now_ms(void);
uint64_t util_monotonic_ms(void);
/* RFC 3339 UTC with milliseconds: 2026-11-23T16:30:00.123Z (25 bytes). */
int util_format_time(int64_t unix_ms, char *out, size_t out_len);
/* v in decimal, written backwards to end just before end; returns where it
 * starts (at most 20 bytes before end).  For the hot paths that would
 * otherwise call snprintf for one number. */
char *util_u64_dec(char *end, uint64_t v);
/* Parse what util_format_time writes (and offsets, and no fraction). */
int util_parse_time(const char *s, int64_t *unix_ms);

/* The high bit of each byte of x that is below 0x20, a quote or a
 * backslash, the bytes a JSON string escapes: the classic "has a byte less
 * than n" and "has a zero byte" word tricks, eight bytes at a time.  The
 * lowest flag is exact; above it a borrow may flag bytes that are plain. */
static inline uint64_t util_json_word_special(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t ctl = (x - ones * 0x20) & ~x;
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    return (ctl | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs;
}

/* Option value parsers: 0 or -EINVAL. */
int util_parse_int(const char *s, int64_t *out);
int util_parse_bool(const char *s, int *out);
int util_parse_size(const char *s, int64_t *out);
int util_parse_duration_ms(const char *s, int64_t *out);

/* strdup that aborts on out-of-memory: the daemon cannot go on without it. */
char *xstrdup(const char *s);
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);

/* Read a whole file; the result is NUL-terminated.  0 or negative errno. */
int util_read_file(const char *path, char **out, size_t *len);

#endif
