/* SPDX-License-Identifier: Apache-2.0 */
/* The config parser (daemon/runtime/config*.c): any text as kanal.conf either loads
 * or is refused with at least one "file:line: why" error, and never both.
 * The file is written to a folder of its own; plugins come from the
 * loader, which the harness fills with one in-memory plugin declaring an
 * option of every type.  Inputs that name plugin_dir are skipped so the
 * fuzzer never makes kanald dlopen libraries from arbitrary folders (the
 * fuzz build's default plugin_dir is the config's own folder). */
#include "fuzz.h"

#include <errno.h>
#include <strings.h>
#include <unistd.h>

#include <kanal/plugin.h>

#include "config.h"
#include "loader.h"

static const struct kanal_option fake_options[] = {
    {"text", KANAL_OPT_STRING, NULL, 0, "any text", NULL},
    {"token", KANAL_OPT_SECRET, NULL, 0, "a secret", NULL},
    {"count", KANAL_OPT_INT, "3", 0, "an integer", NULL},
    {"flag", KANAL_OPT_BOOL, "no", 0, "a flag", NULL},
    {"every", KANAL_OPT_DURATION, "30s", 0, "a duration", NULL},
    {"cap", KANAL_OPT_SIZE, "1M", 0, "a size", NULL},
    {"mode", KANAL_OPT_ENUM, "webhook", 0, "a choice", "webhook|poll|both"},
    {"url", KANAL_OPT_URL, NULL, 0, "a URL", NULL},
    {"need", KANAL_OPT_STRING, NULL, 1, "required", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static int fake_init(const struct kanal_host *h, struct kanal_source *s, void **st)
{
    return -ENOSYS;
}

static const struct kanal_plugin fake = {
    KANAL_PLUGIN_HEADER,     .name = "fuzzplug",
    .version = "1",          .description = "options of every type",
    .options = fake_options, .init = fake_init,
};

static struct plugin_module fake_mod = {.path = (char *)"fuzzplug.so", .desc = &fake};
static struct plugin_module *mods[] = {&fake_mod};
static struct loader loader = {.mods = mods, .nmods = 1};
static char dir[64], path[96];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    snprintf(dir, sizeof dir, "/tmp/kanal-fuzz-config-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof path, "%s/kanal.conf", dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i + 10 <= size; i++)
        if (strncasecmp((const char *)data + i, "plugin_dir", 10) == 0)
            return 0;
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    struct config *cfg = NULL;
    struct config_errors errs = {0};
    int r = config_load(path, &loader, &cfg, &errs);
    if (r == 0) {
        if (!cfg || errs.n)
            FUZZ_FAIL("config_load succeeded with %zu errors", errs.n);
        for (size_t i = 0; i < cfg->nsources; i++) {
            const struct source_config *sc = &cfg->sources[i];
            if (config_find_source(cfg, sc->name) != sc)
                FUZZ_FAIL("source '%s' is not found by its name", sc->name);
            if (!source_config_equal(sc, sc))
                FUZZ_FAIL("source '%s' differs from itself", sc->name);
        }
    } else {
        if (r != KANAL_ECONFIG || cfg || !errs.n)
            FUZZ_FAIL("config_load returned %d with %zu errors", r, errs.n);
        for (size_t i = 0; i < errs.n; i++)
            if (!errs.lines[i] || !errs.lines[i][0])
                FUZZ_FAIL("an empty error line");
    }
    config_free(cfg);
    config_errors_free(&errs);
    return 0;
}
