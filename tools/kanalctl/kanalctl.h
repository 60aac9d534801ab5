/* SPDX-License-Identifier: Apache-2.0 */
/* kanalctl: the operator's CLI.  It reads the store directly and read-only
 * through libkanal (reader-check aside), so it works whether kanald is
 * running, busy or stopped.  One file per command. */
#ifndef KANALCTL_H
#define KANALCTL_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include <kanal/reader.h>

/* Exit codes of every command. */
#define CTL_OK 0
#define CTL_FAILED 1 /* the command could not do its job, or check found problems */
#define CTL_USAGE 2  /* bad arguments, or the store cannot be opened */

#define CTL_DEFAULT_STORE "/var/lib/kanal"

struct ctl {
    const char *store;
};

struct ctl_command {
    const char *name;
    const char *summary; /* one line for kanalctl --help */
    const char *help;    /* the whole text of kanalctl COMMAND --help */
    int (*run)(struct ctl *ctl, int argc, char **argv);
};

extern const struct ctl_command ctl_tail, ctl_export, ctl_stats, ctl_check, ctl_backup,
    ctl_reader_check, ctl_contacts, ctl_validate, ctl_cluster, ctl_score;

/* The options every command takes: -s/--store DIR and -h/--help. */
/* clang-format off */
#define CTL_COMMON_OPTIONS {"store", 1, NULL, 's'}, {"help", 0, NULL, 'h'}
/* clang-format on */

/* Handle a common option or a getopt error; returns -1 to go on, or the
 * exit code to leave with (after printing help or the error). */
int ctl_common_option(struct ctl *ctl, const struct ctl_command *cmd, int opt);
/* Print "kanalctl CMD: message" and a pointer to --help; returns CTL_USAGE. */
int ctl_usage_error(const struct ctl_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A non-negative integer argument; 0, or prints why and returns -1. */
int ctl_parse_u64(const struct ctl_command *cmd, const char *option, const char *text,
                  uint64_t *out);

/* Open the store, or print "kanalctl: cannot open store DIR: why";
 * 0 or CTL_USAGE. */
int ctl_open(struct ctl *ctl, struct kanal_reader **reader);
/* Print "kanalctl CMD: what: why" for an error code; returns CTL_FAILED. */
int ctl_fail(const struct ctl_command *cmd, const char *what, int err);

/* bytes as "12.3 MiB". */
void ctl_human_size(uint64_t bytes, char *out, size_t len);
/* A string member of a record, or NULL. */
const char *ctl_str(json_t *rec, const char *key);

#endif
