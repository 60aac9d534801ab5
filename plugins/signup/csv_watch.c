/* The watched directory of a csv source.
 *
 * Linux inotify (its fd watched with host->watch_fd) says which files
 * appeared or changed; a host timer decides when one has stopped changing
 * (size and modification time the same for `settle`), because a file is
 * often seen while it is still being copied or written.  Files already
 * there at start are picked up by a scan.  Then the file is read (at most
 * max_file_size: a bounded, local read), parsed and imported; its records
 * are committed, and only then is it moved:
 *
 *   done/<file>           with <file>.summary, and <file>.errors listing bad rows
 *   failed/<file>         with <file>.errors saying why nothing was imported
 *
 * A commit that fails leaves the file where it is and tries again later.
 * Nothing is lost silently.
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

struct csv_watch {
    struct signup *s;
    const char *dir;
    const char *columns;
    char delimiter; /* 0: detect */
    int64_t settle_ms;
    int64_t max_size;
    int ifd;
    struct kanal_watch *watch;
    struct kanal_timer *tick;
    struct csv_file *files;
};

/* One file's records on their way to the store. */
struct job {
    struct csv_watch *cw;
    struct csv_file *f;
    struct csv_doc doc;
    struct csv_result res;
    char occurred[32];
    int failed;
    int refused; /* kanald refused a record: retrying cannot help */
    char failure[200];
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
    if (name[0] == '.' || name[0] == '\0')
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
    DIR *d = opendir(cw->dir);
    if (!d) {
        cw->s->host->log(cw->s->src, KANAL_LOG_ERR, "cannot read watch_dir %s: %s", cw->dir,
                         strerror(errno));
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            note(cw, e->d_name, 0);
    }
    closedir(d);
}

/* ---- moving and reports ---- */

/* Whether the file is still as it was when it settled; if not, someone
 * wrote to it while it was read: read it again later rather than move a
 * file whose end was not imported (rows already stored are recognised). */
static int still_settled(struct csv_watch *cw, struct csv_file *f)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", cw->dir, f->name);
    if (lstat(path, &st) == 0 && (st.st_size != f->size || st.st_mtim.tv_sec != f->mtime.tv_sec ||
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

/* Move name into sub/ under a name not taken yet (given back in final). */
static int move_into(struct csv_watch *cw, const char *name, const char *sub, char *final,
                     size_t len)
{
    char from[4096], to[4096];
    snprintf(from, sizeof from, "%s/%s", cw->dir, name);
    for (int n = 1; n < 1000; n++) {
        numbered(name, n, final, len);
        snprintf(to, sizeof to, "%s/%s/%s", cw->dir, sub, final);
        if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
            return 0;
        if (errno == EINVAL) { /* a file system without RENAME_NOREPLACE */
            if (access(to, F_OK) == 0)
                continue;
            return rename(from, to) == 0 ? 0 : -errno;
        }
        if (errno != EEXIST)
            return -errno;
    }
    return -EEXIST;
}

static void write_report(struct csv_watch *cw, const char *sub, const char *final, const char *ext,
                         const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s%s", cw->dir, sub, final, ext);
    FILE *fp = fopen(path, "w");
    if (!fp || fputs(text, fp) == EOF || fclose(fp) != 0) {
        cw->s->host->log(cw->s->src, KANAL_LOG_ERR, "cannot write %s: %s", path, strerror(errno));
        if (fp)
            fclose(fp);
    }
}

static void move_failed(struct csv_watch *cw, struct csv_file *f, const char *why,
                        const char *row_errors)
{
    if (!still_settled(cw, f))
        return;
    char final[1024];
    int r = move_into(cw, f->name, "failed", final, sizeof final);
    if (r < 0) {
        cw->s->host->log(cw->s->src, KANAL_LOG_ERR,
                         "%s not imported (%s), and cannot be moved "
                         "to failed/: %s",
                         f->name, why, strerror(-r));
        forget(cw, f);
        return;
    }
    char *text = NULL;
    if (asprintf(&text, "not imported: %s\n%s", why, row_errors ? row_errors : "") >= 0) {
        write_report(cw, "failed", final, ".errors", text);
        free(text);
    }
    cw->s->host->log(cw->s->src, KANAL_LOG_WARNING, "%s not imported: %s (moved to failed/%s)",
                     f->name, why, final);
    forget(cw, f);
}

static void move_done(struct job *j)
{
    struct csv_watch *cw = j->cw;
    struct signup *s = cw->s;
    char final[1024], when[32], delim[8];
    int r = move_into(cw, j->f->name, "done", final, sizeof final);
    if (r < 0) {
        s->host->log(s->src, KANAL_LOG_ERR, "%s imported, but cannot be moved to done/: %s",
                     j->f->name, strerror(-r));
        return;
    }
    s->host->format_time(now_ms(cw), when, sizeof when);
    snprintf(delim, sizeof delim, j->doc.delimiter == '\t' ? "tab" : "'%c'", j->doc.delimiter);
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
        write_report(cw, "done", final, ".summary", text);
        free(text);
    }
    if (j->res.errors)
        write_report(cw, "done", final, ".errors", j->res.errors);
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
    csv_doc_free(&j->doc);
    csv_result_free(&j->res);
    free(j);
}

static void job_finish(struct job *j)
{
    struct csv_watch *cw = j->cw;
    struct csv_file *f = j->f;
    if (j->failed && j->refused) {
        move_failed(cw, f, j->failure, j->res.errors);
    } else if (j->failed && cw->s->stopping) {
        cw->s->host->log(cw->s->src, KANAL_LOG_NOTICE,
                         "%s: import interrupted by the stop; it is read again at the next start "
                         "(rows already stored are recognised)",
                         f->name);
        f->busy = 0;
    } else if (j->failed) {
        cw->s->host->log(cw->s->src, KANAL_LOG_WARNING,
                         "%s: commit failed (%s); trying again in %d s", f->name, j->failure,
                         RETRY_MS / 1000);
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
        move_failed(cw, f, why, j->res.errors);
    } else {
        move_done(j);
        forget(cw, f);
    }
    job_free(j);
}

static void next_chunk(struct job *j);

static void on_chunk(void *arg, int status, const uint64_t *seqs, size_t n)
{
    struct job *j = arg;
    if (status < 0 || j->cw->s->stopping) {
        j->failed = 1;
        snprintf(j->failure, sizeof j->failure, "%s",
                 j->cw->s->host->strerror(status < 0 ? status : KANAL_ESTOPPED));
        job_finish(j);
        return;
    }
    next_chunk(j);
}

/* Turn the next rows into records and emit them; the chunk after waits for
 * this one's commit, so a large file never holds the loop for long. */
static void next_chunk(struct job *j)
{
    struct signup *s = j->cw->s;
    json_t *chunk = csv_import_next(s, &j->doc, j->f->name, j->occurred, &j->res, CHUNK_RECORDS);
    if (json_array_size(chunk) == 0) {
        json_decref(chunk);
        job_finish(j);
        return;
    }
    char *text = json_dumps(chunk, JSON_COMPACT);
    json_decref(chunk);
    int r = text ? s->host->emit(s->src, text, strlen(text), NULL, 0, on_chunk, j) : -ENOMEM;
    free(text);
    if (r < 0) {
        j->failed = 1;
        j->refused = r == KANAL_ERECORD;
        snprintf(j->failure, sizeof j->failure, "%s%s", s->host->strerror(r),
                 j->refused ? " (kanald's log names the field)" : "");
        job_finish(j);
    }
}

/* Read the whole file, at most max_file_size. */
static int read_file(struct csv_watch *cw, const char *name, char **out, size_t *len,
                     int64_t *mtime_ms, char *why, size_t whylen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", cw->dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(why, whylen, "cannot open it: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    if (!S_ISREG(st.st_mode) || st.st_size > cw->max_size) {
        if (S_ISREG(st.st_mode))
            snprintf(why, whylen, "the file is %lld bytes, more than max_file_size (%lld)",
                     (long long)st.st_size, (long long)cw->max_size);
        else
            snprintf(why, whylen, "not a regular file");
        close(fd);
        return -1;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap + 1);
    ssize_t got = 0;
    /* Read one byte more than expected to notice a file that grew. */
    while (buf && n < cap && (got = read(fd, buf + n, cap - n)) > 0)
        n += (size_t)got;
    close(fd);
    if (!buf || got < 0 || n > (size_t)st.st_size) {
        snprintf(why, whylen, "%s",
                 !buf      ? "out of memory"
                 : got < 0 ? strerror(errno)
                           : "it grew while being read");
        free(buf);
        return -2; /* try again later */
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static void import(struct csv_watch *cw, struct csv_file *f)
{
    struct signup *s = cw->s;
    char why[600] = "";
    char *text = NULL;
    size_t len = 0;
    int64_t mtime = 0;
    f->busy = 1;
    int r = read_file(cw, f->name, &text, &len, &mtime, why, sizeof why);
    if (r == -2) {
        s->host->log(s->src, KANAL_LOG_NOTICE, "%s: %s; reading it again later", f->name, why);
        f->busy = 0;
        f->changed_ms = now_ms(cw);
        return;
    }
    if (r < 0) {
        move_failed(cw, f, why, NULL);
        return;
    }
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        free(text);
        f->busy = 0;
        return;
    }
    j->cw = cw;
    j->f = f;
    s->host->format_time(mtime, j->occurred, sizeof j->occurred);
    r = csv_parse(text, len, cw->delimiter, &j->doc, why, sizeof why);
    free(text);
    if (r == 0)
        r = csv_import_begin(&j->doc, cw->columns, &j->res, why, sizeof why);
    if (r < 0) {
        move_failed(cw, f, why, NULL);
        job_free(j);
        return;
    }
    next_chunk(j);
}

/* ---- inotify and the settle timer ---- */

/* Import every file whose size and time stayed the same for settle. */
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
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", cw->dir, f->name);
        if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
            forget(cw, f); /* gone, or renamed away before it settled */
            continue;
        }
        if (st.st_size != f->size || st.st_mtim.tv_sec != f->mtime.tv_sec ||
            st.st_mtim.tv_nsec != f->mtime.tv_nsec) {
            f->size = st.st_size;
            f->mtime = st.st_mtim;
            f->changed_ms = now;
        } else if (now - f->changed_ms >= cw->settle_ms * (f->writing ? OPEN_SETTLE_FACTOR : 1)) {
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
    cw->dir = s->host->config_string(s->src, "watch_dir");
    cw->columns = s->host->config_string(s->src, "columns");
    const char *delim = s->host->config_string(s->src, "delimiter");
    cw->delimiter = strcmp(delim, "comma") == 0       ? ','
                    : strcmp(delim, "semicolon") == 0 ? ';'
                    : strcmp(delim, "tab") == 0       ? '\t'
                                                      : 0;
    s->host->config_int(s->src, "settle", &cw->settle_ms);
    s->host->config_int(s->src, "max_file_size", &cw->max_size);
    char err[300];
    char labels[ROLE_COUNT][128];
    if (!cw->dir || cw->dir[0] != '/') {
        s->host->log(s->src, KANAL_LOG_ERR, "provider csv needs watch_dir, an absolute path");
        return KANAL_ECONFIG;
    }
    if (cw->columns && csv_columns_parse(cw->columns, labels, err, sizeof err) < 0) {
        s->host->log(s->src, KANAL_LOG_ERR, "%s", err);
        return KANAL_ECONFIG;
    }
    return 0;
}

static int make_dir(struct signup *s, const char *path)
{
    if (mkdir(path, 0750) == 0 || errno == EEXIST)
        return 0;
    int r = -errno;
    s->host->log(s->src, KANAL_LOG_ERR, "cannot create %s: %s", path, strerror(errno));
    return r;
}

int csv_watch_start(struct signup *s)
{
    struct csv_watch *cw = s->csv;
    char sub[4096];
    int r = make_dir(s, cw->dir);
    snprintf(sub, sizeof sub, "%s/done", cw->dir);
    if (!r)
        r = make_dir(s, sub);
    snprintf(sub, sizeof sub, "%s/failed", cw->dir);
    if (!r)
        r = make_dir(s, sub);
    if (r)
        return r;
    cw->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (cw->ifd < 0 || inotify_add_watch(cw->ifd, cw->dir,
                                         IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MODIFY |
                                             IN_ATTRIB | IN_ONLYDIR) < 0) {
        r = -errno;
        s->host->log(s->src, KANAL_LOG_ERR, "cannot watch %s: %s", cw->dir, strerror(errno));
        return r;
    }
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
    if (cw->ifd >= 0)
        close(cw->ifd);
    while (cw->files)
        forget(cw, cw->files);
    free(cw);
    s->csv = NULL;
}
