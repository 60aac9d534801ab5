/* SPDX-License-Identifier: Apache-2.0 */
/* Plugins are opened with RTLD_NOW (an unresolved symbol is an error at
 * load, not a crash later) and RTLD_LOCAL (two plugins may use the same
 * symbol names).  Each refusal gets one log line naming the file and the
 * reason; the daemon goes on with the plugins that are fine. */
#include "loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

/* The smallest descriptor this host understands: ABI 1.0's, up to reload. */
#define PLUGIN_MIN_SIZE (offsetof(struct kanal_plugin, reload) + sizeof(void *))

const char *loader_check_descriptor(const struct kanal_plugin *p)
{
    static char why[160];
    if (p->abi_major != KANAL_ABI_MAJOR) {
        snprintf(why, sizeof why,
                 "is not binary compatible: built for ABI %u.%u, kanald has %u.%u (major differs)",
                 p->abi_major, p->abi_minor, KANAL_ABI_MAJOR, KANAL_ABI_MINOR);
        return why;
    }
    if (p->abi_minor > KANAL_ABI_MINOR) {
        snprintf(why, sizeof why,
                 "is not binary compatible: built for ABI %u.%u, newer than kanald's %u.%u",
                 p->abi_major, p->abi_minor, KANAL_ABI_MAJOR, KANAL_ABI_MINOR);
        return why;
    }
    if (p->size < PLUGIN_MIN_SIZE) {
        snprintf(why, sizeof why,
                 "is not binary compatible: descriptor is %u bytes, at least %zu expected",
                 p->size, (size_t)PLUGIN_MIN_SIZE);
        return why;
    }
    if (!p->name || !*p->name)
        return "has no name in its descriptor";
    for (const char *c = p->name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
            return "has a name other than lower-case letters, digits, '_' and '-'";
    if (!p->init || !p->start || !p->stop || !p->destroy)
        return "lacks one of the required callbacks init, start, stop, destroy";
    for (const struct kanal_option *o = p->options; o && o->name; o++) {
        if (o->type < KANAL_OPT_STRING || o->type > KANAL_OPT_URL)
            return "declares an option of unknown type";
        if (o->type == KANAL_OPT_ENUM && !o->choices)
            return "declares an enum option without choices";
    }
    return NULL;
}

/* Whether the descriptor has what a [processor] / [sink] section needs: a
 * 1.0 descriptor ends before process and deliver. */
const char *loader_check_role(const struct kanal_plugin *p, int role)
{
    if (role == STAGE_PROCESSOR &&
        (p->size < offsetof(struct kanal_plugin, process) + sizeof(void *) || !p->process))
        return "it has no process callback (not a processor, or built for ABI 1.0)";
    if (role == STAGE_SINK &&
        (p->size < offsetof(struct kanal_plugin, deliver) + sizeof(void *) || !p->deliver))
        return "it has no deliver callback (not a sink, or built for ABI 1.0)";
    return NULL;
}

static int seen(const struct loader *ld, const char *path)
{
    for (size_t i = 0; i < ld->nmods; i++)
        if (strcmp(ld->mods[i]->path, path) == 0)
            return 1;
    for (size_t i = 0; i < ld->nrefused; i++)
        if (strcmp(ld->refused[i].path, path) == 0)
            return 1;
    return 0;
}

static void refuse(struct loader *ld, const char *path, const char *file, const char *reason)
{
    log_msg(KANAL_LOG_ERR, NULL, "plugin %s refused: %s", path, reason);
    ld->refused = xrealloc(ld->refused, (ld->nrefused + 1) * sizeof *ld->refused);
    struct plugin_refusal *r = &ld->refused[ld->nrefused++];
    r->path = xstrdup(path);
    r->stem = xstrdup(file);
    r->stem[strlen(r->stem) - 3] = '\0';
    r->reason = xstrdup(reason);
}

static void load_one(struct loader *ld, const char *path, const char *file)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        refuse(ld, path, file, dlerror());
        return;
    }
    kanal_plugin_entry_fn entry;
    *(void **)&entry = dlsym(dl, KANAL_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        refuse(ld, path, file, "has no kanal_plugin_entry symbol (is it exported?)");
        dlclose(dl);
        return;
    }
    const struct kanal_plugin *desc = entry();
    const char *why = desc ? loader_check_descriptor(desc) : "kanal_plugin_entry returned NULL";
    if (!why) {
        const struct plugin_module *other = loader_find(ld, desc->name);
        if (other) {
            char buf[512];
            snprintf(buf, sizeof buf, "plugin name '%s' is already taken by %s", desc->name,
                     other->path);
            refuse(ld, path, file, buf);
            dlclose(dl);
            return;
        }
    }
    if (why) {
        refuse(ld, path, file, why);
        dlclose(dl);
        return;
    }
    ld->mods = xrealloc(ld->mods, (ld->nmods + 1) * sizeof *ld->mods);
    struct plugin_module *m = xcalloc(1, sizeof *m);
    *m = (struct plugin_module){.path = xstrdup(path), .dl = dl, .desc = desc};
    ld->mods[ld->nmods++] = m;
    log_msg(KANAL_LOG_INFO, NULL, "plugin %s %s loaded from %s", desc->name,
            desc->version ? desc->version : "", path);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_so(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 3 && strcmp(d->d_name + n - 3, ".so") == 0 && d->d_name[0] != '.';
}

int loader_scan(struct loader *ld, const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, is_so, by_name);
    if (n < 0)
        return -errno;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (!seen(ld, path))
            load_one(ld, path, names[i]->d_name);
        free(names[i]);
    }
    free(names);
    return (int)ld->nmods;
}

const struct plugin_module *loader_find(const struct loader *ld, const char *name)
{
    for (size_t i = 0; i < ld->nmods; i++)
        if (strcmp(ld->mods[i]->desc->name, name) == 0)
            return ld->mods[i];
    return NULL;
}

const struct plugin_refusal *loader_refusal(const struct loader *ld, const char *name)
{
    for (size_t i = 0; i < ld->nrefused; i++)
        if (strcmp(ld->refused[i].stem, name) == 0)
            return &ld->refused[i];
    return NULL;
}

void loader_free(struct loader *ld)
{
    for (size_t i = 0; i < ld->nmods; i++) {
        /* Sanitizer builds keep the plugin mapped so leak reports can name
         * its frames. */
#ifndef KANAL_NO_DLCLOSE
        dlclose(ld->mods[i]->dl);
#endif
        free(ld->mods[i]->path);
        free(ld->mods[i]);
    }
    for (size_t i = 0; i < ld->nrefused; i++) {
        free(ld->refused[i].path);
        free(ld->refused[i].stem);
        free(ld->refused[i].reason);
    }
    free(ld->mods);
    free(ld->refused);
    memset(ld, 0, sizeof *ld);
}
