/* SPDX-License-Identifier: Apache-2.0 */
/* kanald --plugin-help NAME: what a [source] section of this plugin may
 * say, read from the plugin's own option table, so the answer is that of
 * the .so kanald would load and never out of date. */
#include "pluginhelp.h"

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "loader.h"

static const char *type_name(enum kanal_option_type t)
{
    switch (t) {
    case KANAL_OPT_STRING:
        return "string";
    case KANAL_OPT_SECRET:
        return "secret";
    case KANAL_OPT_INT:
        return "int";
    case KANAL_OPT_BOOL:
        return "bool";
    case KANAL_OPT_DURATION:
        return "duration";
    case KANAL_OPT_SIZE:
        return "size";
    case KANAL_OPT_ENUM:
        return "enum";
    case KANAL_OPT_URL:
        return "url";
    }
    return "?";
}

static void print_options(const struct kanal_option *o)
{
    if (!o || !o->name) {
        printf("  (none)\n");
        return;
    }
    for (; o->name; o++) {
        printf("  %-24s %-8s %s", o->name, type_name(o->type),
               o->required ? "required" : "optional");
        if (o->default_value)
            printf(", default %s", o->default_value[0] ? o->default_value : "\"\"");
        printf("\n      %s\n", o->help ? o->help : "");
        if (o->type == KANAL_OPT_ENUM && o->choices)
            printf("      choices: %s\n", o->choices);
    }
}

int plugin_help(const char *name, const char *config_path, const char *plugin_dir)
{
    struct loader ld = {0};
    struct config *cfg = NULL;
    const char *dir = plugin_dir;
    if (!dir) {
        struct config_errors errs = {0};
        if (config_load(config_path, &ld, &cfg, &errs) < 0) {
            for (size_t i = 0; i < errs.n; i++)
                fprintf(stderr, "%s\n", errs.lines[i]);
            config_errors_free(&errs);
            fprintf(stderr,
                    "kanald: cannot find plugin_dir: %s has errors (name the folder with "
                    "--plugin-dir DIR)\n",
                    config_path);
            loader_free(&ld);
            return 1;
        }
        config_errors_free(&errs); /* warnings only */
        dir = cfg->plugin_dir;
    }
    int rc = 1;
    int n = loader_scan(&ld, dir);
    const struct plugin_module *m = n < 0 ? NULL : loader_find(&ld, name);
    const struct plugin_refusal *refused = loader_refusal(&ld, name);
    if (n < 0) {
        fprintf(stderr, "kanald: cannot read plugin_dir %s: %s\n", dir, strerror(-n));
    } else if (!m && refused) {
        fprintf(stderr, "kanald: plugin '%s' was refused: %s: %s\n", name, refused->path,
                refused->reason);
    } else if (!m) {
        fprintf(stderr, "kanald: no plugin '%s' in %s\n", name, dir);
    } else {
        const struct kanal_plugin *p = m->desc;
        printf("plugin %s %s (ABI %u.%u): %s\n", p->name, p->version ? p->version : "",
               (unsigned)p->abi_major, (unsigned)p->abi_minor,
               p->description ? p->description : "");
        printf("file: %s\n\noptions of a [source NAME] section with plugin = %s:\n", m->path,
               p->name);
        print_options(p->options);
        printf("\noptions of every source:\n");
        print_options(config_common_options);
        rc = 0;
    }
    if (cfg)
        config_free(cfg);
    loader_free(&ld);
    return rc;
}
