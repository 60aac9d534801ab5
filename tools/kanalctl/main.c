/* SPDX-License-Identifier: Apache-2.0 */
/* kanalctl: choose the store and the command, and the helpers the commands
 * share. */
#include "kanalctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#ifndef KANAL_VERSION
#define KANAL_VERSION "unknown"
#endif

static const struct ctl_command *const commands[] = {
    &ctl_tail,         &ctl_export,   &ctl_stats,    &ctl_check,   &ctl_backup,
    &ctl_reader_check, &ctl_contacts, &ctl_validate, &ctl_cluster, &ctl_score,
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out, "usage: kanalctl [-s STORE] COMMAND [OPTIONS]\n"
                 "\n"
                 "Look into a kanal store: read the interaction log, export it, count it,\n"
                 "check it, back it up.  kanalctl opens the store directly and read-only, so\n"
                 "it works while kanald runs (and commits) and while it is stopped.\n"
                 "\n"
                 "Commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-14s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(out,
            "\n"
            "Options:\n"
            "  -s, --store DIR  the store directory (default: $KANAL_STORE, else %s);\n"
            "                   every command also takes it after its name\n"
            "  -h, --help       this text; 'kanalctl COMMAND --help' explains a command\n"
            "  -V, --version    print kanalctl's version\n"
            "\n"
            "Exit status: 0 success; 1 the command failed, or check found problems;\n"
            "2 bad usage, or the store cannot be opened.\n"
            "\n"
            "Example:\n"
            "  kanalctl -s /var/lib/kanal tail -f --source wa-main\n",
            CTL_DEFAULT_STORE);
}

int ctl_usage_error(const struct ctl_command *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "kanalctl %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'kanalctl %s --help'.\n", cmd->name);
    return CTL_USAGE;
}

int ctl_common_option(struct ctl *ctl, const struct ctl_command *cmd, int opt)
{
    switch (opt) {
    case 's':
        ctl->store = optarg;
        return -1;
    case 'h':
        fputs(cmd->help, stdout);
        return CTL_OK;
    default:
        /* getopt has said what was wrong. */
        fprintf(stderr, "Try 'kanalctl %s --help'.\n", cmd->name);
        return CTL_USAGE;
    }
}

int ctl_parse_u64(const struct ctl_command *cmd, const char *option, const char *text,
                  uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || text[0] == '+') {
        ctl_usage_error(cmd, "%s wants a non-negative integer (a seq), not '%s'", option, text);
        return -1;
    }
    *out = v;
    return 0;
}

int ctl_open(struct ctl *ctl, struct kanal_reader **reader)
{
    int rc = kanal_reader_open(reader, ctl->store);
    if (rc) {
        fprintf(stderr, "kanalctl: cannot open store %s: %s\n", ctl->store,
                kanal_reader_strerror(rc));
        return CTL_USAGE;
    }
    return 0;
}

int ctl_fail(const struct ctl_command *cmd, const char *what, int err)
{
    fprintf(stderr, "kanalctl %s: %s: %s\n", cmd->name, what, kanal_reader_strerror(err));
    return CTL_FAILED;
}

void ctl_human_size(uint64_t bytes, char *out, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    unsigned u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    snprintf(out, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

const char *ctl_str(json_t *rec, const char *key)
{
    return json_string_value(json_object_get(rec, key));
}

static const struct ctl_command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"store", 1, NULL, 's'}, {"help", 0, NULL, 'h'}, {"version", 0, NULL, 'V'}, {0}};
    struct ctl ctl = {.store = getenv("KANAL_STORE")};
    if (!ctl.store || !*ctl.store)
        ctl.store = CTL_DEFAULT_STORE;
    int opt;
    /* '+': stop at the command's name; its options are its own. */
    while ((opt = getopt_long(argc, argv, "+s:hV", opts, NULL)) != -1) {
        switch (opt) {
        case 's':
            ctl.store = optarg;
            break;
        case 'h':
            usage(stdout);
            return CTL_OK;
        case 'V':
            printf("kanalctl %s\n", KANAL_VERSION);
            return CTL_OK;
        default:
            fprintf(stderr, "Try 'kanalctl --help'.\n");
            return CTL_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CTL_USAGE;
    }
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0) {
        const struct ctl_command *cmd = optind + 1 < argc ? find_command(argv[optind + 1]) : NULL;
        if (cmd)
            fputs(cmd->help, stdout);
        else
            usage(stdout);
        return CTL_OK;
    }
    const struct ctl_command *cmd = find_command(name);
    if (!cmd) {
        fprintf(stderr, "kanalctl: unknown command '%s'\nTry 'kanalctl --help'.\n", name);
        return CTL_USAGE;
    }
    argc -= optind;
    argv += optind;
    /* getopt's messages start with argv[0]. */
    char prog[64];
    snprintf(prog, sizeof prog, "kanalctl %s", cmd->name);
    argv[0] = prog;
    optind = 0; /* glibc: start afresh for the command's own options */
    return cmd->run(&ctl, argc, argv);
}
