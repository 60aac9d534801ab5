/* SPDX-License-Identifier: Apache-2.0 */
/* kanalctl backup: a compacted, consistent copy of the store, taken in one
 * LMDB read snapshot while kanald goes on committing. */
#include "kanalctl.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reader_int.h"

static int run(struct ctl *ctl, int argc, char **argv);

const struct ctl_command ctl_backup = {
    "backup",
    "write a compacted, consistent copy of the store into a new directory",
    "usage: kanalctl [-s STORE] backup DEST\n"
    "\n"
    "Copy the store into the directory DEST as one file, DEST/data.mdb, compacted\n"
    "(free pages left out) and consistent: the copy is one read snapshot, taken\n"
    "while kanald keeps running and committing.  DEST is created when missing (its\n"
    "parent must exist); an existing DEST must be an empty directory.  To restore,\n"
    "stop kanald and make DEST its store directory (or copy DEST/data.mdb over the\n"
    "store's data.mdb and remove its lock.mdb).\n"
    "\n"
    "Options:\n"
    "  -s, --store DIR   the store directory (default: $KANAL_STORE, else /var/lib/kanal)\n"
    "  -h, --help        this text\n"
    "\n"
    "Exit status: 0 the copy is complete; 1 it failed (DEST not empty, no space,\n"
    "...) and what was written is removed; 2 bad usage, or the store cannot be\n"
    "opened.\n"
    "\n"
    "Example:\n"
    "  kanalctl backup /srv/backup/kanal-$(date +%F) && kanalctl -s /srv/backup/kanal-$(date +%F) "
    "check\n",
    run,
};

/* 1 when dir is a directory with nothing in it, 0 when not, -errno. */
static int dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            empty = 0;
            break;
        }
    closedir(d);
    return empty;
}

static int prepare_dest(const char *dest, int *created)
{
    *created = 0;
    struct stat sb;
    if (stat(dest, &sb) < 0) {
        if (errno != ENOENT || mkdir(dest, 0750) < 0) {
            fprintf(stderr, "kanalctl backup: cannot create %s: %s\n", dest, strerror(errno));
            return -1;
        }
        *created = 1;
        return 0;
    }
    int empty = S_ISDIR(sb.st_mode) ? dir_is_empty(dest) : -ENOTDIR;
    if (empty < 0) {
        fprintf(stderr, "kanalctl backup: cannot use %s: %s\n", dest, strerror(-empty));
        return -1;
    }
    if (!empty) {
        fprintf(stderr,
                "kanalctl backup: %s is not empty; give a new or empty directory "
                "(a backup never overwrites anything)\n",
                dest);
        return -1;
    }
    return 0;
}

static int copy_store(struct kanal_reader *r, const char *dest, const char *data_path)
{
    for (int attempt = 0;; attempt++) {
        int rc = mdb_env_copy2(kanal__reader_env(r), dest, MDB_CP_COMPACT);
        if (rc != MDB_MAP_RESIZED || attempt == 16)
            return kanal__reader_err(rc);
        /* kanald grew the map just now: take its size and start again. */
        unlink(data_path);
        size_t map_size;
        if ((rc = kanal__reader_map_size(r, &map_size)))
            return rc;
    }
}

/* Open the copy as a reader would, and say what it holds. */
static int report(const char *store, const char *dest, const char *data_path)
{
    struct kanal_reader *copy;
    uint64_t last = 0;
    struct stat sb;
    int rc = kanal_reader_open(&copy, dest);
    if (rc == 0) {
        rc = kanal_reader_last_seq(copy, &last);
        kanal_reader_close(copy);
    }
    /* The check left a lock file; the backup is data.mdb alone. */
    char lock_path[4096];
    snprintf(lock_path, sizeof lock_path, "%s/lock.mdb", dest);
    unlink(lock_path);
    if (rc)
        return ctl_fail(&ctl_backup, "the copy cannot be read back", rc);
    char size[32];
    ctl_human_size(stat(data_path, &sb) == 0 ? (uint64_t)sb.st_size : 0, size, sizeof size);
    printf("backup: %s copied to %s: records up to seq %" PRIu64 ", %s\n", store, dest, last, size);
    return CTL_OK;
}

static int run(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {CTL_COMMON_OPTIONS, {0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        int rc = ctl_common_option(ctl, &ctl_backup, opt);
        if (rc >= 0)
            return rc;
    }
    if (optind >= argc)
        return ctl_usage_error(&ctl_backup, "give the directory to copy the store into");
    if (optind + 1 < argc)
        return ctl_usage_error(&ctl_backup, "unexpected argument '%s'", argv[optind + 1]);
    const char *dest = argv[optind];

    struct kanal_reader *r;
    int created, rc = ctl_open(ctl, &r);
    if (rc)
        return rc;
    if (prepare_dest(dest, &created)) {
        kanal_reader_close(r);
        return CTL_FAILED;
    }
    char data_path[4096];
    snprintf(data_path, sizeof data_path, "%s/data.mdb", dest);
    rc = copy_store(r, dest, data_path);
    kanal_reader_close(r);
    if (rc == 0)
        return report(ctl->store, dest, data_path);
    ctl_fail(&ctl_backup, "cannot copy the store", rc);
    unlink(data_path);
    if (created)
        rmdir(dest);
    return CTL_FAILED;
}
