/* SPDX-License-Identifier: Apache-2.0 */
/* filesink: an example sink (ABI 1.1).  It appends every committed record
 * as one JSON line to a file, fsyncs, and only then acknowledges:
 *
 *   [sink archive]
 *   plugin = filesink
 *   path   = /var/lib/kanal/archive.jsonl
 *
 * kanald keeps the sink's cursor in its store and delivers again from it
 * after a restart, so a crash between the write and the ack repeats lines
 * (at-least-once): readers skip a seq they have seen.  A batch reaches the
 * file in one write() and is acknowledged only after fsync(), so a line cut
 * short by a crash or a power loss is never acknowledged: start() drops it,
 * and kanald delivers its record again.  Build it out of tree:
 *   cc -shared -fPIC -o filesink.so filesink.c \
 *      $(pkg-config --cflags --libs kanal-plugin jansson)
 * write() and fsync() block kanald's loop for as long as the disk takes: a
 * sink for a slow or remote target uses host->transfer() or its own thread
 * and acknowledges later (see plugins/http). */
#define _POSIX_C_SOURCE 200809L /* open_memstream, pread */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <kanal/plugin.h>

struct filesink {
    const struct kanal_host *host;
    struct kanal_source *src;
    const char *path;
    int fd;
};

static int filesink_init(const struct kanal_host *host, struct kanal_source *src, void **state)
{
    if (host->abi_minor < 1 || !host->sink_ack) /* a 1.0 host has no sinks */
        return KANAL_EABI;
    struct filesink *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->host = host;
    f->src = src;
    f->path = host->config_string(src, "path");
    f->fd = -1;
    *state = f;
    return 0;
}

/* The length of the file up to and with its last newline. */
static int whole_lines(int fd, off_t *len)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    char buf[4096];
    off_t end = st.st_size;
    while (end > 0) {
        size_t n = end < (off_t)sizeof buf ? (size_t)end : sizeof buf;
        ssize_t r = pread(fd, buf, n, end - (off_t)n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r != (ssize_t)n)
            return r < 0 ? -errno : -EIO;
        for (size_t i = n; i > 0; i--)
            if (buf[i - 1] == '\n') {
                *len = end - (off_t)n + (off_t)i;
                return 0;
            }
        end -= (off_t)n;
    }
    *len = 0;
    return 0;
}

static int filesink_start(void *state)
{
    struct filesink *f = state;
    const char *what = "open";
    off_t len = 0;
    struct stat st;
    int e = 0;
    f->fd = open(f->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (f->fd < 0)
        e = -errno;
    else if ((e = whole_lines(f->fd, &len)) < 0)
        what = "read";
    else if (fstat(f->fd, &st) == 0 && st.st_size > len) {
        /* A line the last run did not finish: never acknowledged. */
        what = "truncate";
        if (ftruncate(f->fd, len) < 0 || fsync(f->fd) < 0)
            e = -errno;
        else
            f->host->log(f->src, KANAL_LOG_WARNING,
                         "%s: dropped %lld bytes of an unfinished line; its records come again",
                         f->path, (long long)(st.st_size - len));
    }
    if (e < 0) {
        f->host->log(f->src, KANAL_LOG_ERR, "cannot %s %s: %s", what, f->path,
                     f->host->strerror(e));
        if (f->fd >= 0)
            close(f->fd);
        f->fd = -1;
    }
    return e;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int filesink_deliver(void *state, const struct kanal_sink_batch *b)
{
    struct filesink *f = state;
    json_error_t e;
    json_t *list = json_loadb(b->json, b->len, 0, &e);
    if (!json_is_array(list)) {
        json_decref(list);
        return -EINVAL;
    }
    /* The whole batch as lines, for one write(). */
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    size_t i;
    json_t *rec;
    int r = m ? 0 : -ENOMEM;
    json_array_foreach(list, i, rec)
    {
        if (r || json_dumpf(rec, m, JSON_COMPACT) < 0 || fputc('\n', m) == EOF)
            r = -ENOMEM;
    }
    json_decref(list);
    if (m && fclose(m) != 0 && !r)
        r = -ENOMEM;
    if (!r)
        r = write_all(f->fd, buf, len);
    free(buf);
    if (!r && fsync(f->fd) < 0)
        r = -errno;
    if (r) {
        f->host->sink_fail(f->src, -1, f->host->strerror(r));
        return 0;
    }
    return f->host->sink_ack(f->src, b->last_seq);
}

static int filesink_stop(void *state)
{
    struct filesink *f = state;
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    return 0;
}

static void filesink_destroy(void *state)
{
    free(state);
}

static const struct kanal_option filesink_options[] = {
    {"path", KANAL_OPT_STRING, NULL, 1, "file the records are appended to, one JSON per line",
     NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static const struct kanal_plugin filesink_plugin = {
    KANAL_PLUGIN_HEADER,
    .name = "filesink",
    .version = "1.0",
    .description = "appends committed records to a file as JSON lines",
    .options = filesink_options,
    .init = filesink_init,
    .start = filesink_start,
    .stop = filesink_stop,
    .destroy = filesink_destroy,
    .deliver = filesink_deliver,
};

KANAL_PLUGIN_EXPORT const struct kanal_plugin *kanal_plugin_entry(void)
{
    return &filesink_plugin;
}
