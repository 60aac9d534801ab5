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
 * (at-least-once): readers skip a seq they have seen.  Build it out of tree:
 *   cc -shared -fPIC -o filesink.so filesink.c \
 *      $(pkg-config --cflags --libs kanal-plugin jansson)
 * write() and fsync() block kanald's loop for as long as the disk takes: a
 * sink for a slow or remote target uses host->transfer() or its own thread
 * and acknowledges later (see plugins/http). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
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

static int filesink_start(void *state)
{
    struct filesink *f = state;
    f->fd = open(f->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (f->fd < 0) {
        int e = -errno;
        f->host->log(f->src, KANAL_LOG_ERR, "cannot open %s: %s", f->path, f->host->strerror(e));
        return e;
    }
    return 0;
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
    size_t i;
    json_t *rec;
    int r = 0;
    json_array_foreach(list, i, rec)
    {
        char *line = json_dumps(rec, JSON_COMPACT);
        if (!line) {
            r = -ENOMEM;
            break;
        }
        r = write_all(f->fd, line, strlen(line));
        if (!r)
            r = write_all(f->fd, "\n", 1);
        free(line);
        if (r)
            break;
    }
    json_decref(list);
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
