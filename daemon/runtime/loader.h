/* SPDX-License-Identifier: Apache-2.0 */
/* Finding and checking channel plugins in plugin_dir. */
#ifndef KANAL_LOADER_H
#define KANAL_LOADER_H

#include <stddef.h>

#include <kanal/plugin.h>

struct plugin_module {
    char *path;
    void *dl;
    const struct kanal_plugin *desc;
};

/* A file that was refused, so that a source naming it can say why. */
struct plugin_refusal {
    char *path;
    char *stem; /* file name without ".so" */
    char *reason;
};

struct loader {
    struct plugin_module **mods; /* stable pointers: sources keep them */
    size_t nmods;
    struct plugin_refusal *refused;
    size_t nrefused;
};

/* Load every *.so in dir that was not looked at before, in name order.  Each
 * refusal is logged once with the file and the reason.  Returns the number
 * of usable plugins, or a negative errno when dir cannot be read. */
int loader_scan(struct loader *ld, const char *dir);
const struct plugin_module *loader_find(const struct loader *ld, const char *name);
/* The refusal of <name>.so, if that file was refused. */
const struct plugin_refusal *loader_refusal(const struct loader *ld, const char *name);
void loader_free(struct loader *ld);

/* Check a plugin descriptor against this host; NULL when fine. */
const char *loader_check_descriptor(const struct kanal_plugin *p);
/* What a plugin section configures: a channel, a processor or a sink. */
enum { STAGE_SOURCE = 0, STAGE_PROCESSOR, STAGE_SINK };

/* NULL when p can serve a section of that role (STAGE_*), else why not. */
const char *loader_check_role(const struct kanal_plugin *p, int role);

#endif
