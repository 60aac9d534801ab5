/* SPDX-License-Identifier: Apache-2.0 */
/* kit: options bound by offsetof.  A plugin lists {option, type, offset
 * into its state} once and fills its state in one call, instead of one
 * config_string/config_int call and error message per option. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <kanal/kit.h>

int kanal_kit_bind_options(const struct kanal_host *host, struct kanal_source *src,
                           const struct kanal_kit_bind *table, void *state)
{
    char *base = state;
    for (const struct kanal_kit_bind *b = table; b && b->name; b++) {
        void *slot = base + b->offset;
        if (b->type == KANAL_KIT_STR) {
            const char *v = host->config_string(src, b->name);
            if (v)
                memcpy(slot, &v, sizeof v);
            continue;
        }
        int64_t v;
        int r = host->config_int(src, b->name, &v);
        if (r == -ENOENT)
            continue; /* unset without default: the member keeps its value */
        if (r < 0) {
            host->log(src, KANAL_LOG_ERR, "option '%s' cannot be read as a number: %s", b->name,
                      host->strerror(r));
            return KANAL_ECONFIG;
        }
        switch (b->type) {
        case KANAL_KIT_INT64:
            memcpy(slot, &v, sizeof v);
            break;
        case KANAL_KIT_INT:
        case KANAL_KIT_BOOL: {
            if (v < INT_MIN || v > INT_MAX) {
                host->log(src, KANAL_LOG_ERR, "option '%s' is out of range (%lld)", b->name,
                          (long long)v);
                return KANAL_ECONFIG;
            }
            int i = b->type == KANAL_KIT_BOOL ? v != 0 : (int)v;
            memcpy(slot, &i, sizeof i);
            break;
        }
        default:
            host->log(src, KANAL_LOG_ERR, "option '%s' has an unknown binding type %d", b->name,
                      (int)b->type);
            return KANAL_ECONFIG;
        }
    }
    return 0;
}
