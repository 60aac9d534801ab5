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
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv.h"

#define CHUNK_RECORDS 250
/* What one turn of the loop does at most, per phase. */
#define SLICE_READ_BYTES (1 << 20)
#define SLICE_CHECK_BYTES (4 << 20)
#define SLICE_COUNT_BYTES (2 << 20)
#define SLICE_COUNT_ROWS 20000
#define SLICE_IMPORT_ROWS 2000
#define RETRY_MS 30000
/* A file some program still holds open for writing is read only after it
 * stayed unchanged this many times settle (its close may go unseen). */
#define OPEN_SETTLE_FACTOR 10

struct csv_file {
    char *name;
    off_t size;
    struct timespec mtime;
    int64_t changed_ms; /* when a change was last seen */
    int writing;        /* written to and not closed yet (inotify) */
    int busy;           /* being imported */
    struct csv_file *next;
};

struct job;

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
    struct job *job; /* the import in progress, one at a time */
};

enum phase { PHASE_READ, PHASE_CHECK, PHASE_COUNT, PHASE_IMPORT };

/* One file on its way to the store. */
struct job {
    struct csv_watch *cw;
    struct csv_file *f;
    enum phase phase;
    int fd; /* while reading */
    char *text;
    size_t len, cap;
    struct csv_reader rd;
    size_t nrows;        /* rows counted */
    struct csv_doc head; /* the first rows, with the header */
    size_t row;          /* the index of the next row to import */
    int eof;             /* every row was read */
    struct kanal_timer *slice;
    struct csv_result res;
    int begun; /* res is set up */
    char occurred[32];
    int failed;
    int refused; /* kanald refused a record: retrying cannot help */
    char failure[600];
};

static int64_t now_ms(struct csv_watch *cw)
{
    return cw->s->host->now_ms();
}

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
    f->changed_ms = now_ms(cw);
    if (mask & (IN_CREATE | IN_MODIFY))
        f->writing = 1;
    if (mask & (IN_CLOSE_WRITE | IN_MOVED_TO))
        f->writing = 0;
}

static void forget(struct csv_watch *cw, struct csv_file *f)
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
static const char *not_regular(mode_t mode)
{
    return S_ISLNK(mode)    ? "a symbolic link (links in watch_dir are never followed)"
           : S_ISDIR(mode)  ? "a directory"
           : S_ISFIFO(mode) ? "a FIFO, not a regular file"
                            : "a device or socket, not a regular file";
}

/* ---- moving and reports ---- */

/* Whether the file is still as it was when it settled; if not, someone
 * wrote to it while it was read: read it again later rather than move a
 * file whose end was not imported (rows already stored are recognised). */
static int still_settled(struct csv_watch *cw, struct csv_file *f)
{
    struct stat st;
    if (fstatat(cw->dfd, f->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        (st.st_size != f->size || st.st_mtim.tv_sec != f->mtime.tv_sec ||
         st.st_mtim.tv_nsec != f->mtime.tv_nsec)) {
        cw->s->host->log(cw->s->src, KANAL_LOG_NOTICE,
                         "%s changed while it was read; reading it again once it settles", f->name);
        f->busy = 0;
        f->changed_ms = now_ms(cw);
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
static int open_sub(struct csv_watch *cw, const char *sub, char *why, size_t whylen)
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
        snprintf(why, whylen, "%s/%s is %s; refused", cw->dir, sub, not_regular(st.st_mode));
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
    int sfd = open_sub(cw, sub, why, whylen);
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

/* Write a report next to the moved file.  It is created, never opened if
 * it exists (a planted link could name any file kanald may write). */
static void write_report(struct csv_watch *cw, int sfd, const char *sub, const char *final,
                         const char *ext, const char *text)
{
    char name[1100];
    snprintf(name, sizeof name, "%s%s", final, ext);
    int fd = openat(sfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    int err = fd < 0 ? errno : 0;
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
    if (err)
        cw->s->host->log(cw->s->src, KANAL_LOG_ERR, "cannot write %s/%s/%s: %s", cw->dir, sub, name,
                         err == EEXIST ? "an entry of that name is already there; not overwritten"
                                       : strerror(err));
}

/* Move f to failed/ with a report saying why (skip_check: nothing was read,
 * so there is no settled state to compare). */
static void move_failed(struct csv_watch *cw, struct csv_file *f, const char *why,
                        const char *row_errors, int skip_check)
{
    if (!skip_check && !still_settled(cw, f))
        return;
    char final[1024], err[600];
    int sfd = move_into(cw, f->name, "failed", final, sizeof final, err, sizeof err);
    if (sfd < 0) {
        cw->s->host->log(cw->s->src, KANAL_LOG_ERR, "%s/%s not imported (%s), and %s", cw->dir,
                         f->name, why, err);
        forget(cw, f);
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
    forget(cw, f);
}

static void move_done(struct job *j)
{
    struct csv_watch *cw = j->cw;
    struct signup *s = cw->s;
    char final[1024], when[32], delim[8], err[600];
    int sfd = move_into(cw, j->f->name, "done", final, sizeof final, err, sizeof err);
    if (sfd < 0) {
        s->host->log(s->src, KANAL_LOG_ERR, "%s/%s imported, but %s", cw->dir, j->f->name, err);
        return;
    }
    s->host->format_time(now_ms(cw), when, sizeof when);
    snprintf(delim, sizeof delim, j->rd.delimiter == '\t' ? "tab" : "'%c'", j->rd.delimiter);
    char header[64];
    if (j->res.header_line)
        snprintf(header, sizeof header, "line %zu", j->res.header_line);
    else
        snprintf(header, sizeof header, "none");
    char *text = NULL;
    size_t nrec = j->res.nrecords;
    if (asprintf(&text,
                 "file: %s\nimported_at: %s\nevent: %s%s%s%s\nheader: %s\ndelimiter: %s\n"
                 "columns: %s\nrows: %zu\nrecords: %zu\nbad_rows: %zu\n%s%s%s",
                 j->f->name, when, s->event_id, s->event_name ? " (" : "",
                 s->event_name ? s->event_name : "", s->event_name ? ")" : "", header, delim,
                 j->res.columns, j->res.nrows, nrec, j->res.nerrors,
                 j->res.nerrors ? "errors: " : "", j->res.nerrors ? final : "",
                 j->res.nerrors ? ".errors\n" : "") >= 0) {
        write_report(cw, sfd, "done", final, ".summary", text);
        free(text);
    }
    if (j->res.errors)
        write_report(cw, sfd, "done", final, ".errors", j->res.errors);
    close(sfd);
    if (j->res.nerrors)
        s->host->log(s->src, KANAL_LOG_WARNING,
                     "imported %s: %zu row(s), %zu sign-up(s), %zu listed in done/%s.errors",
                     j->f->name, j->res.nrows, nrec, j->res.nerrors, final);
    else
        s->host->log(s->src, KANAL_LOG_INFO, "imported %s: %zu row(s), %zu sign-up(s) (done/%s)",
                     j->f->name, j->res.nrows, nrec, final);
}

/* ---- importing ---- */

static void job_free(struct job *j)
{
    if (j->slice)
        j->cw->s->host->timer_stop(j->slice);
    if (j->fd >= 0)
        close(j->fd);
    free(j->text);
    csv_reader_free(&j->rd);
    csv_doc_free(&j->head);
    if (j->begun)
        csv_result_free(&j->res);
    if (j->cw->job == j)
        j->cw->job = NULL;
    free(j);
}

static void job_finish(struct job *j)
{
    struct csv_watch *cw = j->cw;
    struct csv_file *f = j->f;
    if (j->failed && j->refused) {
        move_failed(cw, f, j->failure, j->begun ? j->res.errors : NULL, 0);
    } else if (j->failed && cw->s->stopping) {
        cw->s->host->log(cw->s->src, KANAL_LOG_NOTICE,
                         "%s: import interrupted by the stop; it is read again at the next start "
                         "(rows already stored are recognised)",
                         f->name);
        f->busy = 0;
    } else if (j->failed) {
        cw->s->host->log(cw->s->src, KANAL_LOG_WARNING, "%s: %s; trying again in %d s", f->name,
                         j->failure, RETRY_MS / 1000);
        f->busy = 0;
        f->changed_ms = now_ms(cw) + RETRY_MS - cw->settle_ms;
    } else if (!still_settled(cw, f)) {
        /* read again: f stays listed */
    } else if (j->res.nrecords == 0) {
        char why[200];
        snprintf(why, sizeof why,
                 j->res.nrows ? "no row has a valid e-mail or phone (%zu bad row(s), listed below)"
                              : "no data rows after the header",
                 j->res.nerrors);
        move_failed(cw, f, why, j->res.errors, 0);
    } else {
        move_done(j);
        forget(cw, f);
    }
    job_free(j);
}

/* The file cannot be imported as it is: to failed/ with why. */
static void job_refuse(struct job *j, const char *why)
{
    j->failed = j->refused = 1;
    snprintf(j->failure, sizeof j->failure, "%s", why);
    job_finish(j);
}

static void on_slice(void *arg);

static void next_slice(struct job *j)
{
    struct signup *s = j->cw->s;
    int r = s->host->timer_start(s->src, 0, 0, on_slice, j, &j->slice);
    if (r < 0) {
        j->failed = 1;
        snprintf(j->failure, sizeof j->failure, "cannot go on: %s", s->host->strerror(r));
        job_finish(j);
    }
}

static void on_chunk(void *arg, int status, const uint64_t *seqs, size_t n)
{
    struct job *j = arg;
    if (status < 0 || j->cw->s->stopping) {
        j->failed = 1;
        snprintf(j->failure, sizeof j->failure, "commit failed (%s)",
                 j->cw->s->host->strerror(status < 0 ? status : KANAL_ESTOPPED));
        job_finish(j);
        return;
    }
    next_slice(j);
}

/* A slice of reading: at most SLICE_READ_BYTES, and one byte more than the
 * size seen at open, to notice a file that grew.  1 while more is to come. */
static int read_slice(struct job *j)
{
    size_t want = j->cap - j->len < SLICE_READ_BYTES ? j->cap - j->len : SLICE_READ_BYTES;
    ssize_t got = want ? read(j->fd, j->text + j->len, want) : 0;
    if (got < 0 && errno == EINTR)
        return 1;
    if (got < 0 || j->len + (size_t)(got > 0 ? got : 0) >= j->cap) {
        j->failed = 1;
        snprintf(j->failure, sizeof j->failure, "%s",
                 got < 0 ? strerror(errno) : "it grew while being read");
        return -1;
    }
    if (got > 0) {
        j->len += (size_t)got;
        return 1;
    }
    close(j->fd);
    j->fd = -1;
    j->text[j->len] = '\0';
    csv_reader_init(&j->rd, j->text, j->len, j->cw->delimiter);
    return 0;
}

/* Count the rows (and check their quoting) up to csv_max_rows, so that a
 * file that cannot be imported whole is refused before any of it is stored. */
static int count_slice(struct job *j, char *why, size_t whylen)
{
    size_t from = j->rd.pos;
    for (int n = 0; n < SLICE_COUNT_ROWS && j->rd.pos - from < SLICE_COUNT_BYTES; n++) {
        int r = csv_next(&j->rd, NULL, why, whylen);
        if (r <= 0)
            return r;
        if (++j->nrows > (size_t)j->cw->max_rows) {
            snprintf(why, whylen, "the file has more than csv_max_rows (%lld) rows",
                     (long long)j->cw->max_rows);
            return -1;
        }
    }
    return 1;
}

/* Find the header in the first rows; the rows after it are imported next. */
static int begin(struct job *j, char *why, size_t whylen)
{
    csv_rewind(&j->rd);
    while (j->head.nrows < CSV_HEADER_ROWS) {
        struct csv_row row;
        int r = csv_next(&j->rd, &row, why, whylen);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        if (csv_doc_add(&j->head, &row) < 0) {
            csv_row_free(&row);
            snprintf(why, whylen, "out of memory");
            return -1;
        }
    }
    if (csv_import_begin(&j->head, j->cw->columns, &j->res, why, whylen) < 0) {
        csv_result_free(&j->res);
        return -1;
    }
    j->begun = 1;
    j->row = j->res.first_row;
    return 0;
}

/* Turn the next rows into records and emit them: at most CHUNK_RECORDS
 * records from at most SLICE_IMPORT_ROWS rows.  The chunk after waits for
 * this one's commit. */
static void import_slice(struct job *j)
{
    struct signup *s = j->cw->s;
    char why[300];
    json_t *chunk = json_array();
    for (int n = 0;
         chunk && n < SLICE_IMPORT_ROWS && !j->eof && json_array_size(chunk) < CHUNK_RECORDS; n++) {
        struct csv_row tmp = {0}, *row = &tmp;
        if (j->row < j->head.nrows) {
            row = &j->head.rows[j->row];
        } else {
            int r = csv_next(&j->rd, &tmp, why, sizeof why);
            if (r < 0) { /* checked before: only memory can fail here */
                json_decref(chunk);
                j->failed = 1;
                snprintf(j->failure, sizeof j->failure, "%s", why);
                job_finish(j);
                return;
            }
            j->eof = r == 0;
            if (j->eof)
                break;
        }
        j->row++;
        json_t *rec = csv_import_row(s, row, j->f->name, j->occurred, &j->res);
        if (rec)
            json_array_append_new(chunk, rec);
        csv_row_free(&tmp);
    }
    if (!chunk || json_array_size(chunk) == 0) {
        json_decref(chunk);
        if (j->eof)
            job_finish(j);
        else
            next_slice(j);
        return;
    }
    char *text = json_dumps(chunk, JSON_COMPACT);
    json_decref(chunk);
    int r = text ? s->host->emit(s->src, text, strlen(text), NULL, 0, on_chunk, j) : -ENOMEM;
    free(text);
    if (r < 0) {
        j->failed = 1;
        j->refused = r == KANAL_ERECORD;
        snprintf(j->failure, sizeof j->failure, "commit failed (%s%s)", s->host->strerror(r),
                 j->refused ? "; kanald's log names the field" : "");
        job_finish(j);
    }
}

static void on_slice(void *arg)
{
    struct job *j = arg;
    struct csv_watch *cw = j->cw;
    char why[600];
    int r = 0;
    cw->s->host->timer_stop(j->slice);
    j->slice = NULL;
    switch (j->phase) {
    case PHASE_READ:
        r = read_slice(j);
        if (r < 0) {
            job_finish(j); /* read again later */
            return;
        }
        if (r == 0)
            j->phase = PHASE_CHECK;
        break;
    case PHASE_CHECK:
        r = csv_check(&j->rd, SLICE_CHECK_BYTES, why, sizeof why);
        if (r == 0)
            j->phase = PHASE_COUNT;
        break;
    case PHASE_COUNT:
        r = count_slice(j, why, sizeof why);
        if (r == 0 && (r = begin(j, why, sizeof why)) == 0) {
            j->phase = PHASE_IMPORT;
            import_slice(j);
            return;
        }
        break;
    case PHASE_IMPORT:
        import_slice(j);
        return;
    }
    if (r < 0)
        job_refuse(j, why);
    else
        next_slice(j);
}

/* Open the file (never through a link, only a regular file, at most
 * csv_max_file_size) and start reading it in slices. */
static void import(struct csv_watch *cw, struct csv_file *f)
{
    struct signup *s = cw->s;
    char why[300];
    int fd = openat(cw->dfd, f->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        if (err == ELOOP) {
            move_failed(cw, f, not_regular(S_IFLNK), NULL, 1);
        } else {
            s->host->log(s->src, KANAL_LOG_WARNING, "%s/%s: cannot open it: %s", cw->dir, f->name,
                         strerror(err));
            forget(cw, f);
        }
        return;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > cw->max_size) {
        close(fd);
        if (S_ISREG(st.st_mode))
            snprintf(why, sizeof why, "the file is %lld bytes, more than csv_max_file_size (%lld)",
                     (long long)st.st_size, (long long)cw->max_size);
        else
            snprintf(why, sizeof why, "%s", not_regular(st.st_mode));
        move_failed(cw, f, why, NULL, !S_ISREG(st.st_mode));
        return;
    }
    struct job *j = calloc(1, sizeof *j);
    if (j) {
        j->cap = (size_t)st.st_size + 1;
        j->text = malloc(j->cap + 1);
    }
    if (!j || !j->text) {
        close(fd);
        free(j);
        s->host->log(s->src, KANAL_LOG_WARNING, "%s: out of memory; reading it again later",
                     f->name);
        f->changed_ms = now_ms(cw);
        return;
    }
    j->cw = cw;
    j->f = f;
    j->fd = fd;
    j->phase = PHASE_READ;
    cw->job = j;
    f->busy = 1;
    s->host->format_time((int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000,
                         j->occurred, sizeof j->occurred);
    next_slice(j);
}

/* ---- inotify and the settle timer ---- */

/* Import a file whose size and time stayed the same for settle, one at a
 * time. */
static void on_tick(void *arg)
{
    struct csv_watch *cw = arg;
    if (cw->s->stopping)
        return;
    int64_t now = now_ms(cw);
    struct csv_file *next;
    for (struct csv_file *f = cw->files; f; f = next) {
        next = f->next;
        if (f->busy)
            continue;
        struct stat st;
        if (fstatat(cw->dfd, f->name, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode)) {
            forget(cw, f); /* gone, or renamed away before it settled */
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            move_failed(cw, f, not_regular(st.st_mode), NULL, 1);
            continue;
        }
        if (st.st_size != f->size || st.st_mtim.tv_sec != f->mtime.tv_sec ||
            st.st_mtim.tv_nsec != f->mtime.tv_nsec) {
            f->size = st.st_size;
            f->mtime = st.st_mtim;
            f->changed_ms = now;
        } else if (!cw->job &&
                   now - f->changed_ms >= cw->settle_ms * (f->writing ? OPEN_SETTLE_FACTOR : 1)) {
            import(cw, f);
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

int csv_watch_init(struct signup *s)
{
    struct csv_watch *cw = calloc(1, sizeof *cw);
    if (!cw)
        return -ENOMEM;
    s->csv = cw;
    cw->s = s;
    cw->ifd = -1;
    cw->dfd = -1;
    cw->dir = s->host->config_string(s->src, "watch_dir");
    cw->columns = s->host->config_string(s->src, "columns");
    const char *delim = s->host->config_string(s->src, "delimiter");
    cw->delimiter = strcmp(delim, "comma") == 0       ? ','
                    : strcmp(delim, "semicolon") == 0 ? ';'
                    : strcmp(delim, "tab") == 0       ? '\t'
                                                      : 0;
    s->host->config_int(s->src, "settle", &cw->settle_ms);
    s->host->config_int(s->src, "csv_max_file_size", &cw->max_size);
    s->host->config_int(s->src, "csv_max_rows", &cw->max_rows);
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
        int fd = open_sub(cw, subs[i], why, sizeof why);
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
    if (cw->job && cw->job->slice) {
        /* Between two slices (not waiting for a commit): end it here. */
        struct job *j = cw->job;
        s->host->timer_stop(j->slice);
        j->slice = NULL;
        j->failed = 1;
        job_finish(j);
    }
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
    if (cw->job) { /* its commit never came back */
        cw->job->slice = NULL;
        job_free(cw->job);
    }
    if (cw->ifd >= 0)
        close(cw->ifd);
    if (cw->dfd >= 0)
        close(cw->dfd);
    while (cw->files)
        forget(cw, cw->files);
    free(cw);
    s->csv = NULL;
}
