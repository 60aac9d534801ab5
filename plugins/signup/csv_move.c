/* SPDX-License-Identifier: Apache-2.0 */
/* Moving a file of watch_dir to done/ or failed/, and writing its reports.
 *
 * Everything is reached relative to watch_dir's fd without following
 * links: done/ and failed/ are opened with O_NOFOLLOW (a link there is
 * refused, not followed), the file is moved with renameat2 (which moves a
 * link itself, never its target) under a name whose reports are free too,
 * and the reports are written under a hidden temporary name created with
 * O_EXCL|O_NOFOLLOW, mode 0640, then renamed to theirs without replacing
 * anything: never written through a name that exists, never seen partial.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv_watch.h"

const char *csv_not_regular(mode_t mode)
{
    return S_ISLNK(mode)    ? "a symbolic link (links in watch_dir are never followed)"
           : S_ISDIR(mode)  ? "a directory"
           : S_ISREG(mode)  ? "a file, not a directory"
           : S_ISFIFO(mode) ? "a FIFO, not a regular file"
                            : "a device or socket, not a regular file";
}

/* Whether the file is still as it was when it settled; if not, someone
 * wrote to it while it was read: read it again later rather than move a
 * file whose end was not imported (rows already stored are recognised). */
int csv_still_settled(struct csv_watch *cw, struct csv_file *f)
{
    struct stat st;
    if (fstatat(cw->dfd, f->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        (st.st_size != f->size || st.st_mtim.tv_sec != f->mtime.tv_sec ||
         st.st_mtim.tv_nsec != f->mtime.tv_nsec)) {
        cw->s->host->log(cw->s->src, KANAL_LOG_NOTICE,
                         "%s changed while it was read; reading it again once it settles", f->name);
        f->busy = 0;
        f->changed_ms = csv_now_ms(cw);
        return 0;
    }
    return 1;
}

/* "a.csv" -> "a.2.csv" for the n-th file of that name. */
static void numbered(const char *name, int n, char *out, size_t len)
{
    const char *dot = strrchr(name, '.');
    if (n == 1)
        snprintf(out, len, "%s", name);
    else if (dot && dot != name)
        snprintf(out, len, "%.*s.%d%s", (int)(dot - name), name, n, dot);
    else
        snprintf(out, len, "%s.%d", name, n);
}

/* The subdirectory sub of watch_dir, created if missing, opened without
 * following a link: its fd, or -errno with why. */
int csv_open_sub(struct csv_watch *cw, const char *sub, char *why, size_t whylen)
{
    if (mkdirat(cw->dfd, sub, 0750) < 0 && errno != EEXIST) {
        int r = -errno;
        snprintf(why, whylen, "cannot create %s/%s: %s", cw->dir, sub, strerror(errno));
        return r;
    }
    int fd = openat(cw->dfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0)
        return fd;
    int r = -errno;
    struct stat st;
    if ((r == -ELOOP || r == -ENOTDIR) && fstatat(cw->dfd, sub, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        !S_ISDIR(st.st_mode))
        snprintf(why, whylen, "%s/%s is %s; refused", cw->dir, sub, csv_not_regular(st.st_mode));
    else
        snprintf(why, whylen, "cannot open %s/%s: %s", cw->dir, sub, strerror(-r));
    return r;
}

static int exists_at(int dirfd, const char *name, const char *ext)
{
    char path[1100];
    struct stat st;
    snprintf(path, sizeof path, "%s%s", name, ext);
    return fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}

/* Move name into sub/ under a name not taken yet, with its report names
 * free too (given back in final): the fd of sub/, or -errno with why. */
static int move_into(struct csv_watch *cw, const char *name, const char *sub, char *final,
                     size_t len, char *why, size_t whylen)
{
    int sfd = csv_open_sub(cw, sub, why, whylen);
    if (sfd < 0)
        return sfd;
    for (int n = 1; n < 1000; n++) {
        numbered(name, n, final, len);
        if (exists_at(sfd, final, ".summary") || exists_at(sfd, final, ".errors"))
            continue;
        if (renameat2(cw->dfd, name, sfd, final, RENAME_NOREPLACE) == 0)
            return sfd;
        if (errno == EINVAL) { /* a file system without RENAME_NOREPLACE */
            if (exists_at(sfd, final, ""))
                continue;
            if (renameat(cw->dfd, name, sfd, final) == 0)
                return sfd;
        }
        if (errno != EEXIST)
            break;
    }
    int r = errno == EEXIST ? -EEXIST : -errno;
    snprintf(why, whylen, "cannot move it to %s/: %s", sub, strerror(-r));
    close(sfd);
    return r;
}

/* Give the written temporary file tmp in sub/ its report name, never
 * replacing an entry of that name: 0 or errno. */
static int publish_report(int sfd, const char *tmp, const char *name)
{
    if (renameat2(sfd, tmp, sfd, name, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL) /* EINVAL: a file system without RENAME_NOREPLACE */
        return errno;
    if (linkat(sfd, tmp, sfd, name, 0) < 0) /* fails with EEXIST, never replaces */
        return errno;
    unlinkat(sfd, tmp, 0);
    return 0;
}

/* Write a report next to the moved file.  It is written whole under a
 * hidden temporary name first and then given its name, because an
 * operator's script waits for the report's name to appear and reads it at
 * once: it must never find it empty or cut short.  Both names are created,
 * never opened or replaced if they exist (a planted link could name any
 * file kanald may write).  A crash between the two leaves the hidden
 * temporary file behind, never a partial report. */
static void write_report(struct csv_watch *cw, int sfd, const char *sub, const char *final,
                         const char *ext, const char *text)
{
    static unsigned serial;
    char name[1100], tmp[1200];
    snprintf(name, sizeof name, "%s%s", final, ext);
    int fd = -1, err = 0;
    for (int tries = 0; fd < 0 && tries < 100; tries++) {
        snprintf(tmp, sizeof tmp, ".%s.%ld.%u.tmp", name, (long)getpid(), ++serial);
        fd = openat(sfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
        err = fd < 0 ? errno : 0;
        if (fd < 0 && err != EEXIST)
            break;
    }
    size_t len = strlen(text), done = 0;
    while (fd >= 0 && !err && done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno != EINTR)
            err = errno;
        else if (n > 0)
            done += (size_t)n;
    }
    if (fd >= 0 && close(fd) < 0 && !err)
        err = errno;
    if (fd >= 0 && !err)
        err = publish_report(sfd, tmp, name);
    if (fd >= 0 && err)
        unlinkat(sfd, tmp, 0);
    if (err)
        cw->s->host->log(cw->s->src, KANAL_LOG_ERR, "cannot write %s/%s/%s: %s", cw->dir, sub, name,
                         err == EEXIST ? "an entry of that name is already there; not overwritten"
                                       : strerror(err));
}

/* Move f to failed/ with a report saying why (skip_check: nothing was read,
 * so there is no settled state to compare). */
void csv_move_failed(struct csv_watch *cw, struct csv_file *f, const char *why,
                     const char *row_errors, int skip_check)
{
    if (!skip_check && !csv_still_settled(cw, f))
        return;
    char final[1024], err[600];
    int sfd = move_into(cw, f->name, "failed", final, sizeof final, err, sizeof err);
    if (sfd < 0) {
        cw->s->host->log(cw->s->src, KANAL_LOG_ERR, "%s/%s not imported (%s), and %s", cw->dir,
                         f->name, why, err);
        csv_forget(cw, f);
        return;
    }
    char *text = NULL;
    if (asprintf(&text, "not imported: %s\n%s", why, row_errors ? row_errors : "") >= 0) {
        write_report(cw, sfd, "failed", final, ".errors", text);
        free(text);
    }
    close(sfd);
    cw->s->host->log(cw->s->src, KANAL_LOG_WARNING, "%s not imported: %s (moved to failed/%s)",
                     f->name, why, final);
    csv_forget(cw, f);
}

void csv_move_done(struct csv_watch *cw, struct csv_file *f, const struct csv_result *res,
                   char delimiter)
{
    struct signup *s = cw->s;
    char final[1024], when[32], delim[8], err[600];
    int sfd = move_into(cw, f->name, "done", final, sizeof final, err, sizeof err);
    if (sfd < 0) {
        s->host->log(s->src, KANAL_LOG_ERR, "%s/%s imported, but %s", cw->dir, f->name, err);
        return;
    }
    s->host->format_time(csv_now_ms(cw), when, sizeof when);
    snprintf(delim, sizeof delim, delimiter == '\t' ? "tab" : "'%c'", delimiter);
    char header[64];
    if (res->header_line)
        snprintf(header, sizeof header, "line %zu", res->header_line);
    else
        snprintf(header, sizeof header, "none");
    /* The .errors report first: the .summary is what operators (and their
     * scripts) wait for, so everything it names must be complete by then. */
    if (res->errors)
        write_report(cw, sfd, "done", final, ".errors", res->errors);
    char *text = NULL;
    size_t nrec = res->nrecords;
    if (asprintf(&text,
                 "file: %s\nimported_at: %s\nevent: %s%s%s%s\nheader: %s\ndelimiter: %s\n"
                 "columns: %s\nrows: %zu\nrecords: %zu\nbad_rows: %zu\n%s%s%s",
                 f->name, when, s->event_id, s->event_name ? " (" : "",
                 s->event_name ? s->event_name : "", s->event_name ? ")" : "", header, delim,
                 res->columns, res->nrows, nrec, res->nerrors, res->nerrors ? "errors: " : "",
                 res->nerrors ? final : "", res->nerrors ? ".errors\n" : "") >= 0) {
        write_report(cw, sfd, "done", final, ".summary", text);
        free(text);
    }
    close(sfd);
    if (res->nerrors)
        s->host->log(s->src, KANAL_LOG_WARNING,
                     "imported %s: %zu row(s), %zu sign-up(s), %zu listed in done/%s.errors",
                     f->name, res->nrows, nrec, res->nerrors, final);
    else
        s->host->log(s->src, KANAL_LOG_INFO, "imported %s: %zu row(s), %zu sign-up(s) (done/%s)",
                     f->name, res->nrows, nrec, final);
}
