/* SPDX-License-Identifier: Apache-2.0 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t util_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t util_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (the
 * algorithms of H. Hinnant's "chrono-Compatible Low-Level Date
 * Algorithms"): every record's received_at is formatted and most
 * occurred_at parsed, and gmtime_r/snprintf/sscanf cost more than the rest
 * of the record's checks. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static char *digits(char *o, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--, v /= 10)
        o[i] = (char)('0' + v % 10);
    return o + n;
}

char *util_u64_dec(char *end, uint64_t v)
{
    do
        *--end = (char)('0' + v % 10);
    while (v /= 10);
    return end;
}

int util_format_time(int64_t unix_ms, char *out, size_t out_len)
{
    if (out_len < 25)
        return -ENOBUFS;
    int64_t secs = unix_ms / 1000;
    int ms = (int)(unix_ms % 1000);
    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    if (y < 0 || y > 9999)
        return -EINVAL;
    char *o = digits(out, (unsigned)y, 4);
    *o++ = '-';
    o = digits(o, mo, 2);
    *o++ = '-';
    o = digits(o, d, 2);
    *o++ = 'T';
    o = digits(o, (unsigned)(rem / 3600), 2);
    *o++ = ':';
    o = digits(o, (unsigned)(rem / 60 % 60), 2);
    *o++ = ':';
    o = digits(o, (unsigned)(rem % 60), 2);
    *o++ = '.';
    o = digits(o, (unsigned)ms, 3);
    *o++ = 'Z';
    *o = '\0';
    return 0;
}

/* s starts with shape, where 'd' stands for one digit; never reads past a NUL. */
static int has_shape(const char *s, const char *shape)
{
    for (; *shape; s++, shape++)
        if (*shape == 'd' ? !isdigit((unsigned char)*s) : *s != *shape)
            return 0;
    return 1;
}

int util_parse_time(const char *s, int64_t *unix_ms)
{
    if (!has_shape(s, "dddd-dd-ddTdd:dd:dd"))
        return -EINVAL;
#define D2(i) ((s[i] - '0') * 10 + (s[(i) + 1] - '0'))
    int y = D2(0) * 100 + D2(2), mo = D2(5), d = D2(8), h = D2(11), mi = D2(14), sec = D2(17);
#undef D2
    const char *p = s + 19;
    int ms = 0;
    if (*p == '.') {
        int digits = 0;
        p++;
        while (isdigit((unsigned char)*p)) {
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
            digits++;
            p++;
        }
        if (digits == 0)
            return -EINVAL;
        for (; digits < 3; digits++)
            ms *= 10;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        if (!has_shape(p + 1, "dd:dd"))
            return -EINVAL;
        int oh = (p[1] - '0') * 10 + (p[2] - '0'), om = (p[4] - '0') * 10 + (p[5] - '0');
        if (oh > 23 || om > 59)
            return -EINVAL;
        offset_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -EINVAL;
    }
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (*p || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
        return -EINVAL;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return -EINVAL;
    int64_t t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec;
    *unix_ms = (t - offset_min * 60) * 1000 + ms;
    return 0;
}

int util_parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -EINVAL;
    *out = v;
    return 0;
}

int util_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -EINVAL;
}

/* A number followed by one unit from the table; no unit means `plain`. */
static int parse_with_unit(const char *s, const char *const *units, const int64_t *factors,
                           size_t nunits, int64_t plain, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0)
        return -EINVAL;
    int64_t factor = -1;
    if (*end == '\0') {
        factor = plain;
    } else {
        for (size_t i = 0; i < nunits; i++)
            if (strcmp(end, units[i]) == 0)
                factor = factors[i];
    }
    if (factor < 0 || (v > 0 && INT64_MAX / v < factor))
        return -EINVAL;
    *out = v * factor;
    return 0;
}

int util_parse_size(const char *s, int64_t *out)
{
    static const char *const units[] = {"K", "k", "KB", "M", "MB", "G", "GB"};
    static const int64_t f[] = {1 << 10, 1 << 10, 1 << 10, 1 << 20, 1 << 20, 1 << 30, 1 << 30};
    return parse_with_unit(s, units, f, ARRAY_SIZE(units), 1, out);
}

int util_parse_duration_ms(const char *s, int64_t *out)
{
    static const char *const units[] = {"ms", "s", "m", "min", "h", "d"};
    static const int64_t f[] = {1, 1000, 60000, 60000, 3600000, 86400000};
    /* A bare number is seconds: that is what sysadmins write most often. */
    return parse_with_unit(s, units, f, ARRAY_SIZE(units), 1000, out);
}

static void out_of_memory(void)
{
    fputs("kanald: out of memory\n", stderr);
    abort();
}

char *xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p)
        out_of_memory();
    return p;
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory();
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        out_of_memory();
    return p;
}

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        out_of_memory();
    return p;
}

int util_read_file(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int err = S_ISDIR(st.st_mode) ? -EISDIR : -errno;
        close(fd);
        return err ? err : -EINVAL;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int err = -errno;
            free(buf);
            close(fd);
            return err;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return 0;
}
