/* SPDX-License-Identifier: Apache-2.0 */
/* kanalctl reader-check: free the reader slots of processes that died with
 * a read transaction open.  kanald does this at start and now and then; a
 * slot left behind by a crashed consumer otherwise pins old pages (the store
 * grows) until then. */
#include "kanalctl.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "store_layout.h"

static int run(struct ctl *ctl, int argc, char **argv);

const struct ctl_command ctl_reader_check = {
    "reader-check",
    "clear the reader slots that dead processes left in the lock file",
    "usage: kanalctl [-s STORE] reader-check\n"
    "\n"
    "Clear the slots of LMDB's reader table (the store's lock.mdb) that belong to\n"
    "processes that no longer exist, and print how many were cleared.  A process\n"
    "killed inside a read transaction leaves such a slot, and until it is cleared\n"
    "LMDB cannot reuse the pages that reader could see, so the store grows.\n"
    "Safe while kanald runs: it opens the store as a second LMDB environment,\n"
    "writes nothing but the lock table, and never starts a transaction.\n"
    "\n"
    "Options:\n"
    "  -s, --store DIR   the store directory (default: $KANAL_STORE, else /var/lib/kanal)\n"
    "  -h, --help        this text\n"
    "\n"
    "Exit status: 0 success; 1 the check failed; 2 bad usage, or the store cannot\n"
    "be opened.\n"
    "\n"
    "Example:\n"
    "  kanalctl reader-check\n",
    run,
};

static int run(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {CTL_COMMON_OPTIONS, {0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        int rc = ctl_common_option(ctl, &ctl_reader_check, opt);
        if (rc >= 0)
            return rc;
    }
    if (optind < argc)
        return ctl_usage_error(&ctl_reader_check, "unexpected argument '%s'", argv[optind]);

    /* Opened read-write (mdb_reader_check edits the lock table), so check
     * first that there is a store: LMDB would create one in an empty
     * directory. */
    char data_path[4096];
    struct stat sb;
    snprintf(data_path, sizeof data_path, "%s/data.mdb", ctl->store);
    if (stat(ctl->store, &sb) < 0 || stat(data_path, &sb) < 0) {
        fprintf(stderr, "kanalctl: cannot open store %s: %s\n", ctl->store, strerror(errno));
        return CTL_USAGE;
    }
    MDB_env *env;
    int dead = 0, rc = mdb_env_create(&env);
    if (rc == 0) {
        /* kanald's settings, in case this process sizes a new lock table. */
        if ((rc = mdb_env_set_maxdbs(env, KANAL_STORE_MAX_DBS)) ||
            (rc = mdb_env_set_maxreaders(env, KANAL_STORE_MAX_READERS)) ||
            (rc = mdb_env_open(env, ctl->store, MDB_NOTLS, KANAL_STORE_FILE_MODE))) {
            mdb_env_close(env);
        } else {
            rc = mdb_reader_check(env, &dead);
            mdb_env_close(env);
            if (rc)
                return ctl_fail(&ctl_reader_check, "cannot check the reader table",
                                rc > 0 ? -rc : rc);
        }
    }
    if (rc) {
        fprintf(stderr, "kanalctl: cannot open store %s: %s\n", ctl->store, mdb_strerror(rc));
        return CTL_USAGE;
    }
    printf("reader-check: cleared %d stale reader slot(s)\n", dead);
    return CTL_OK;
}
