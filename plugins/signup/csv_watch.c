/* SPDX-License-Identifier: Apache-2.0 */
/* The watched directory of a csv source.
 *
 * Linux inotify (its fd watched with host->watch_fd) says which files
 * appeared or changed; a host timer decides when one has stopped changing
 * (size and modification time the same for `settle`), because a file is
 * often seen while it is still being copied or written.  Files already
 * there at start are picked up by a scan.  Then the file is read (at most
 * csv_max_file_size), checked, counted (at most csv_max_rows) and imported;
 * its records are committed, and only then is it moved:
 *
 *   done/<file>           with <file>.summary, and <file>.errors listing bad rows
 *   failed/<file>         with <file>.errors saying why nothing was imported
 *
 * A commit that fails leaves the file where it is and tries again later.
 * Nothing is lost silently.
 *
 * Whoever may drop files into watch_dir may also plant symbolic links
 * there, so watch_dir is opened once (a link in its configured path is the
 * admin's choice and followed) and everything inside it is reached
 * relative to that descriptor without following links: a CSV, done/,
 * failed/ and the reports.  A link, FIFO or device dropped as a CSV goes
 * to failed/ unread; a done/ or failed/ that is a link is refused.
 *
 * Reading, checking, counting and importing a file all run in slices of
 * bounded size on the loop thread (a 0 ms host timer between slices, or the
 * commit of the previous chunk of records), so a large file never holds
 * the loop for long, and one file is imported at a time per source: its
 * text, the rows of one chunk and the handles seen so far are what is held
 * in memory.  A crash in the middle of a file leaves it in watch_dir; it is
 * read again at the next start and the rows already stored are recognised
 * by their external ids, so nothing is lost and nothing stored twice.
 */
#include <dirent.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kanal/kit.h>

#include "csv_watch.h"

/* A file some program still holds open for writing is read only after it
 * stayed unchanged this many times settle (its close may go unseen). */
#define OPEN_SETTLE_FACTOR 10

/* ---- the list of files ---- */

static int acceptable(const char *name)
{
    static const char *const skip[] = {"~",    ".tmp",    ".part",   ".crdownload",
                                       ".swp", ".errors", ".summary"};
    /* done/ and failed/ are kanald's own, even when they are not directories. */
    if (name[0] == '.' || name[0] == '\0' || strcmp(name, "done") == 0 ||
        strcmp(name, "failed") == 0)
        return 0;
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++) {
        size_t k = strlen(skip[i]);
        if (n >= k && strcmp(name + n - k, skip[i]) == 0)
            return 0;
    }
    return 1;
}

static void note(struct csv_watch *cw, const char *name, uint32_t mask)
{
    if (!acceptable(name))
        return;
    struct csv_file *f;
    for (f = cw->files; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            break;
    if (!f) {
        f = calloc(1, sizeof *f);
        if (!f || !(f->name = strdup(name))) {
            free(f);
            return;
        }
        f->size = -1;
        f->next = cw->files;
        cw->files = f;
    }
    f->changed_ms = csv_now_ms(cw);
    if (mask & (IN_CREATE | IN_MODIFY))
        f->writing = 1;
    if (mask & (IN_CLOSE_WRITE | IN_MOVED_TO))
        f->writing = 0;
}

void csv_forget(struct csv_watch *cw, struct csv_file *f)
{
    for (struct csv_file **p = &cw->files; *p; p = &(*p)->next)
        if (*p == f) {
            *p = f->next;
            break;
        }
    free(f->name);
    free(f);
}

static void scan(struct csv_watch *cw)
{
    int fd = openat(cw->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        cw->s->host->log(cw->s->src, KANAL_LOG_ERR, "cannot read watch_dir %s: %s", cw->dir,
                         strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st;
        /* Links, FIFOs and devices too: they are refused with a report. */
        if (fstatat(cw->dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
            note(cw, e->d_name, 0);
    }
    closedir(d);
}

/* What an entry of watch_dir is when it is not a regular file. */
/* ---- inotify and the settle timer ---- */

/* Import a file whose size and time stayed the same for settle, one at a
 * time. */
static void on_tick(void *arg)
{
    struct csv_watch *cw = arg;
    if (cw->s->stopping)
        return;
    int64_t now = csv_now_ms(cw);
    struct csv_file *next;
    for (struct csv_file *f = cw->files; f; f = next) {
        next = f->next;
        if (f->busy)
            continue;
        struct stat st;
        if (fstatat(cw->dfd, f->name, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode)) {
            csv_forget(cw, f); /* gone, or renamed away before it settled */
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            csv_move_failed(cw, f, csv_not_regular(st.st_mode), NULL, 1);
            continue;
        }
        if (st.st_size != f->size || st.st_mtim.tv_sec != f->mtime.tv_sec ||
            st.st_mtim.tv_nsec != f->mtime.tv_nsec) {
            f->size = st.st_size;
            f->mtime = st.st_mtim;
            f->changed_ms = now;
        } else if (!cw->job &&
                   now - f->changed_ms >= cw->settle_ms * (f->writing ? OPEN_SETTLE_FACTOR : 1)) {
            csv_job_start(cw, f);
        }
    }
}

static void on_inotify(void *arg, int fd, int events)
{
    struct csv_watch *cw = arg;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->mask & IN_Q_OVERFLOW)
                scan(cw);
            else if (ev->mask & IN_IGNORED)
                cw->s->host->set_health(cw->s->src, 0, "watch_dir was removed or unmounted");
            else if (ev->len && !(ev->mask & IN_ISDIR))
                note(cw, ev->name, ev->mask);
            p += sizeof *ev + ev->len;
        }
    }
}

/* ---- lifecycle ---- */

static const struct kanal_kit_bind csv_watch_binds[] = {
    {"watch_dir", KANAL_KIT_STR, offsetof(struct csv_watch, dir)},
    {"columns", KANAL_KIT_STR, offsetof(struct csv_watch, columns)},
    {"settle", KANAL_KIT_INT64, offsetof(struct csv_watch, settle_ms)},
    {"csv_max_file_size", KANAL_KIT_INT64, offsetof(struct csv_watch, max_size)},
    {"csv_max_rows", KANAL_KIT_INT64, offsetof(struct csv_watch, max_rows)},
    {NULL, 0, 0},
};

int csv_watch_init(struct signup *s)
{
    struct csv_watch *cw = calloc(1, sizeof *cw);
    if (!cw)
        return -ENOMEM;
    s->csv = cw;
    cw->s = s;
    cw->ifd = -1;
    cw->dfd = -1;
    int r = kanal_kit_bind_options(s->host, s->src, csv_watch_binds, cw);
    if (r < 0)
        return r;
    const char *delim = s->host->config_string(s->src, "delimiter");
    cw->delimiter = strcmp(delim, "comma") == 0       ? ','
                    : strcmp(delim, "semicolon") == 0 ? ';'
                    : strcmp(delim, "tab") == 0       ? '\t'
                                                      : 0;
    /* The key's former name, still read so that old configurations keep
     * their limit. */
    if (s->host->config_int(s->src, "max_file_size", &cw->max_size) == 0)
        s->host->log(s->src, KANAL_LOG_WARNING,
                     "max_file_size is now called csv_max_file_size; please rename it");
    char err[300];
    char labels[ROLE_COUNT][128];
    if (!cw->dir || cw->dir[0] != '/') {
        s->host->log(s->src, KANAL_LOG_ERR, "provider csv needs watch_dir, an absolute path");
        return KANAL_ECONFIG;
    }
    if (cw->max_rows < 1) {
        s->host->log(s->src, KANAL_LOG_ERR, "csv_max_rows must be at least 1");
        return KANAL_ECONFIG;
    }
    if (cw->columns && csv_columns_parse(cw->columns, labels, err, sizeof err) < 0) {
        s->host->log(s->src, KANAL_LOG_ERR, "%s", err);
        return KANAL_ECONFIG;
    }
    return 0;
}

int csv_watch_start(struct signup *s)
{
    struct csv_watch *cw = s->csv;
    char why[600];
    /* watch_dir itself is the admin's: a link in its path is followed. */
    if (mkdir(cw->dir, 0750) < 0 && errno != EEXIST) {
        int r = -errno;
        s->host->log(s->src, KANAL_LOG_ERR, "cannot create %s: %s", cw->dir, strerror(errno));
        return r;
    }
    cw->dfd = open(cw->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cw->dfd < 0) {
        int r = -errno;
        s->host->log(s->src, KANAL_LOG_ERR, "cannot open watch_dir %s: %s", cw->dir,
                     strerror(errno));
        return r;
    }
    static const char *const subs[] = {"done", "failed"};
    for (size_t i = 0; i < 2; i++) {
        int fd = csv_open_sub(cw, subs[i], why, sizeof why);
        if (fd >= 0) {
            close(fd);
        } else if (fd == -ELOOP || fd == -ENOTDIR) {
            /* Files are still imported; each move there is refused and logged. */
            s->host->log(s->src, KANAL_LOG_ERR, "%s", why);
        } else {
            s->host->log(s->src, KANAL_LOG_ERR, "%s", why);
            return fd;
        }
    }
    cw->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (cw->ifd < 0 || inotify_add_watch(cw->ifd, cw->dir,
                                         IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MODIFY |
                                             IN_ATTRIB | IN_ONLYDIR) < 0) {
        int r = -errno;
        s->host->log(s->src, KANAL_LOG_ERR, "cannot watch %s: %s", cw->dir, strerror(errno));
        return r;
    }
    int r;
    if ((r = s->host->watch_fd(s->src, cw->ifd, KANAL_WATCH_READ, on_inotify, cw, &cw->watch)))
        return r;
    scan(cw);
    uint64_t period = (uint64_t)(cw->settle_ms / 4);
    period = period < 25 ? 25 : period > 500 ? 500 : period;
    if ((r = s->host->timer_start(s->src, period, period, on_tick, cw, &cw->tick)))
        return r;
    s->host->log(s->src, KANAL_LOG_INFO, "watching %s for attendee exports (event %s)", cw->dir,
                 s->event_id);
    return 0;
}

void csv_watch_stop(struct signup *s)
{
    struct csv_watch *cw = s->csv;
    if (!cw)
        return;
    s->host->unwatch_fd(cw->watch);
    cw->watch = NULL;
    s->host->timer_stop(cw->tick);
    cw->tick = NULL;
    csv_job_stop(cw);
    if (cw->ifd >= 0)
        close(cw->ifd);
    cw->ifd = -1;
}

void csv_watch_free(struct signup *s)
{
    struct csv_watch *cw = s->csv;
    if (!cw)
        return;
    if (cw->watch) /* start failed half-way: stop would have done this */
        s->host->unwatch_fd(cw->watch);
    if (cw->tick)
        s->host->timer_stop(cw->tick);
    if (cw->job) /* its commit never came back */
        csv_job_free(cw->job);
    if (cw->ifd >= 0)
        close(cw->ifd);
    if (cw->dfd >= 0)
        close(cw->dfd);
    while (cw->files)
        csv_forget(cw, cw->files);
    free(cw);
    s->csv = NULL;
}
