/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the unit tests: temporary directories and files. */
#ifndef KANAL_UNIT_H
#define KANAL_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A new empty directory under $TMPDIR (or /tmp); free it with unit_rmtree. */
static inline char *unit_tempdir(void)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    size_t n = strlen(base) + sizeof "/kanal-unit-XXXXXX";
    char *path = malloc(n);
    assert_non_null(path);
    snprintf(path, n, "%s/kanal-unit-XXXXXX", base);
    assert_non_null(mkdtemp(path));
    return path;
}

/* dir/name, malloc'ed. */
static inline char *unit_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Write text to dir/name; returns the file's path, malloc'ed. */
static inline char *unit_write_file(const char *dir, const char *name, const char *text)
{
    char *path = unit_path(dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return path;
}

static inline int unit_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Remove dir and everything below it, then free the string. */
static inline void unit_rmtree(char *dir)
{
    if (!dir)
        return;
    assert_int_equal(nftw(dir, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
    free(dir);
}

#endif
