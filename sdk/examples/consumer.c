/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A feed consumer on libkanal: print every interaction record as a JSON line,
 * starting after the cursor saved in a file, and save the cursor as it goes.
 * Stop it with Ctrl-C (or SIGTERM); started again, it goes on where it
 * stopped.  Delivery is at least once: a record printed just before a crash
 * may be printed again, never skipped.
 *
 *   usage: consumer STORE_DIR CURSOR_FILE [--once]
 *          --once: exit when there is nothing more to read, instead of waiting
 *
 * Built out of tree with
 *   cc -o consumer consumer.c $(pkg-config --cflags --libs kanal)
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kanal/reader.h>

/* Save the cursor every this many records, and whenever the reader is caught up. */
#define SAVE_EVERY 1000

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static uint64_t load_cursor(const char *path)
{
    FILE *f = fopen(path, "r");
    uint64_t seq = 0;
    if (f) {
        if (fscanf(f, "%" SCNu64, &seq) != 1)
            seq = 0;
        fclose(f);
    }
    return seq;
}

/* Write the cursor to a temporary file, sync it, and rename it over the old
 * one: a crash leaves either the old cursor or the new one. */
static int save_cursor(const char *path, uint64_t seq)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -errno;
    int ok = fprintf(f, "%" PRIu64 "\n", seq) > 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) < 0) {
        int err = -errno;
        unlink(tmp);
        return err ? err : -EIO;
    }
    return 0;
}

/* Print the records after *seq; the records are on stdout before the cursor
 * that covers them is saved. */
static int drain(struct kanal_reader *r, uint64_t *seq, const char *cursor_file)
{
    const char *json;
    size_t len;
    unsigned since_save = 0;
    int rc = -EAGAIN;
    while (!stopping && (rc = kanal_reader_next(r, seq, &json, &len)) == 0) {
        fwrite(json, 1, len, stdout);
        putchar('\n');
        if (++since_save == SAVE_EVERY) {
            if (fflush(stdout) != 0 || (rc = save_cursor(cursor_file, *seq)))
                return rc ? rc : -EIO;
            since_save = 0;
        }
    }
    if (stopping)
        rc = -EAGAIN;
    if (rc != -EAGAIN)
        return rc;
    if (fflush(stdout) != 0)
        return -EIO;
    return save_cursor(cursor_file, *seq);
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "--once") != 0)) {
        fprintf(stderr, "usage: %s STORE_DIR CURSOR_FILE [--once]\n", argv[0]);
        return 2;
    }
    const char *store = argv[1], *cursor_file = argv[2];
    int once = argc == 4;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: the wait returns -EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct kanal_reader *r;
    int rc = kanal_reader_open(&r, store);
    if (rc) {
        fprintf(stderr, "consumer: cannot open store %s: %s\n", store, kanal_reader_strerror(rc));
        return 2;
    }
    uint64_t seq = load_cursor(cursor_file);
    while (!stopping) {
        if ((rc = drain(r, &seq, cursor_file)))
            break;
        if (once)
            break;
        /* Sleeps on the store until kanald commits; the timeout only bounds
         * how long a signal that lands just before the sleep goes unseen. */
        rc = kanal_reader_wait(r, seq, 1000);
        if (rc == -ETIMEDOUT || rc == -EINTR)
            rc = 0;
        else if (rc)
            break;
    }
    if (rc)
        fprintf(stderr, "consumer: %s: %s\n", store, kanal_reader_strerror(rc));
    kanal_reader_close(r);
    return rc ? 1 : 0;
}
