/* SPDX-License-Identifier: Apache-2.0 */
/* The watched directory of a csv source: what its files share.
 * csv_watch.c watches the directory and decides when a file is read,
 * csv_job.c reads and imports one file in slices, csv_move.c moves it to
 * done/ or failed/ with its reports. */
#ifndef KANAL_SIGNUP_CSV_WATCH_H
#define KANAL_SIGNUP_CSV_WATCH_H

#include <sys/types.h>
#include <time.h>

#include "csv.h"

struct csv_file {
    char *name;
    off_t size;
    struct timespec mtime;
    int64_t changed_ms; /* when a change was last seen */
    int writing;        /* written to and not closed yet (inotify) */
    int busy;           /* being imported */
    struct csv_file *next;
};

struct csv_job;

struct csv_watch {
    struct signup *s;
    const char *dir;
    int dfd; /* watch_dir, opened once */
    const char *columns;
    char delimiter; /* 0: detect */
    int64_t settle_ms;
    int64_t max_size;
    int64_t max_rows;
    int ifd;
    struct kanal_watch *watch;
    struct kanal_timer *tick;
    struct csv_file *files;
    struct csv_job *job; /* the import in progress, one at a time */
};

static inline int64_t csv_now_ms(struct csv_watch *cw)
{
    return cw->s->host->now_ms();
}

/* ---- csv_watch.c ---- */

/* Drop f from the list of files (and free it). */
void csv_forget(struct csv_watch *cw, struct csv_file *f);

/* ---- csv_move.c ---- */

/* What an entry of watch_dir is when it is not a regular file. */
const char *csv_not_regular(mode_t mode);
/* The subdirectory sub of watch_dir, created if missing, opened without
 * following a link: its fd, or -errno with why. */
int csv_open_sub(struct csv_watch *cw, const char *sub, char *why, size_t whylen);
/* 1 when f is as it was when it settled; 0 (f to be read again) if not. */
int csv_still_settled(struct csv_watch *cw, struct csv_file *f);
/* Move f to failed/ with a report saying why, and forget it (skip_check:
 * nothing was read, so there is no settled state to compare). */
void csv_move_failed(struct csv_watch *cw, struct csv_file *f, const char *why,
                     const char *row_errors, int skip_check);
/* Move an imported f to done/ with its summary and errors. */
void csv_move_done(struct csv_watch *cw, struct csv_file *f, const struct csv_result *res,
                   char delimiter);

/* ---- csv_job.c ---- */

/* Open f (never through a link, only a regular file, at most
 * csv_max_file_size) and start importing it in slices. */
void csv_job_start(struct csv_watch *cw, struct csv_file *f);
/* At the stop: end an import between two slices (one waiting for a commit
 * ends when the commit comes back). */
void csv_job_stop(struct csv_watch *cw);
/* Free an import whose commit never came back. */
void csv_job_free(struct csv_job *j);

#endif
