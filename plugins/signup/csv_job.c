/* SPDX-License-Identifier: Apache-2.0 */
/* Importing one file of watch_dir, in slices of bounded size on the loop
 * thread: read (SLICE_READ_BYTES a turn), check that it is UTF-8
 * (SLICE_CHECK_BYTES), count its rows and check their quoting
 * (SLICE_COUNT_ROWS, refusing a file over csv_max_rows before any row is
 * stored), then turn rows into records (at most CHUNK_RECORDS from
 * SLICE_IMPORT_ROWS rows a turn).  A 0 ms host timer, or the commit of the
 * previous chunk, starts the next slice, so requests are answered between
 * slices.  Only the file's text, the current row's fields, one chunk of
 * records and the handles seen so far are held.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv_watch.h"

#define CHUNK_RECORDS 250
/* What one turn of the loop does at most, per phase. */
#define SLICE_READ_BYTES (1 << 20)
#define SLICE_CHECK_BYTES (4 << 20)
#define SLICE_COUNT_BYTES (2 << 20)
#define SLICE_COUNT_ROWS 20000
#define SLICE_IMPORT_ROWS 2000
#define RETRY_MS 30000

enum phase { PHASE_READ, PHASE_CHECK, PHASE_COUNT, PHASE_IMPORT };

/* One file on its way to the store. */
struct csv_job {
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

void csv_job_free(struct csv_job *j)
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

static void job_finish(struct csv_job *j)
{
    struct csv_watch *cw = j->cw;
    struct csv_file *f = j->f;
    if (j->failed && j->refused) {
        csv_move_failed(cw, f, j->failure, j->begun ? j->res.errors : NULL, 0);
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
        f->changed_ms = csv_now_ms(cw) + RETRY_MS - cw->settle_ms;
    } else if (!csv_still_settled(cw, f)) {
        /* read again: f stays listed */
    } else if (j->res.nrecords == 0) {
        char why[200];
        snprintf(why, sizeof why,
                 j->res.nrows ? "no row has a valid e-mail or phone (%zu bad row(s), listed below)"
                              : "no data rows after the header",
                 j->res.nerrors);
        csv_move_failed(cw, f, why, j->res.errors, 0);
    } else {
        csv_move_done(cw, f, &j->res, j->rd.delimiter);
        csv_forget(cw, f);
    }
    csv_job_free(j);
}

/* The file cannot be imported as it is: to failed/ with why. */
static void job_refuse(struct csv_job *j, const char *why)
{
    j->failed = j->refused = 1;
    snprintf(j->failure, sizeof j->failure, "%s", why);
    job_finish(j);
}

static void on_slice(void *arg);

static void next_slice(struct csv_job *j)
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
    struct csv_job *j = arg;
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
static int read_slice(struct csv_job *j)
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
static int count_slice(struct csv_job *j, char *why, size_t whylen)
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
static int begin(struct csv_job *j, char *why, size_t whylen)
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
static void import_slice(struct csv_job *j)
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
            if (j->eof) {
                csv_import_end(&j->res);
                break;
            }
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
    struct csv_job *j = arg;
    struct csv_watch *cw = j->cw;
    char why[600];
    int r = 0;
    cw->s->host->timer_stop(j->slice);
    j->slice = NULL;
    switch (j->phase) {
    case PHASE_READ:
        r = read_slice(j);
        if (r < 0) { /* read it again once it settles */
            cw->s->host->log(cw->s->src, KANAL_LOG_NOTICE, "%s: %s; reading it again later",
                             j->f->name, j->failure);
            j->f->busy = 0;
            j->f->changed_ms = csv_now_ms(cw);
            csv_job_free(j);
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

void csv_job_start(struct csv_watch *cw, struct csv_file *f)
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
            csv_move_failed(cw, f, csv_not_regular(S_IFLNK), NULL, 1);
        } else {
            s->host->log(s->src, KANAL_LOG_WARNING, "%s/%s: cannot open it: %s", cw->dir, f->name,
                         strerror(err));
            csv_forget(cw, f);
        }
        return;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > cw->max_size) {
        close(fd);
        if (S_ISREG(st.st_mode))
            snprintf(why, sizeof why, "the file is %lld bytes, more than csv_max_file_size (%lld)",
                     (long long)st.st_size, (long long)cw->max_size);
        else
            snprintf(why, sizeof why, "%s", csv_not_regular(st.st_mode));
        csv_move_failed(cw, f, why, NULL, !S_ISREG(st.st_mode));
        return;
    }
    struct csv_job *j = calloc(1, sizeof *j);
    if (j) {
        j->cap = (size_t)st.st_size + 1;
        j->text = malloc(j->cap + 1);
    }
    if (!j || !j->text) {
        close(fd);
        free(j);
        s->host->log(s->src, KANAL_LOG_WARNING, "%s: out of memory; reading it again later",
                     f->name);
        f->changed_ms = csv_now_ms(cw);
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

void csv_job_stop(struct csv_watch *cw)
{
    struct csv_job *j = cw->job;
    if (j && j->slice) {
        cw->s->host->timer_stop(j->slice);
        j->slice = NULL;
        j->failed = 1;
        job_finish(j);
    }
}
