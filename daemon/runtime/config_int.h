/* SPDX-License-Identifier: Apache-2.0 */
/* What the files of the configuration share (config.c: the option tables
 * of every section, the checks of [kanald], [api] and [audience], the
 * load; config_ini.c: the file read into sections and values;
 * config_sections.c: [source], [processor] and [sink]; config_secrets.c:
 * secrets' files and kanald's NATS connections).  Nothing else includes
 * it: the interface is config.h. */
#ifndef KANAL_CONFIG_INT_H
#define KANAL_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

/* ---- raw INI contents ---- */

struct raw_kv {
    char *key;
    char *value;
    int line;
};

struct raw_section {
    char *name;
    int line;
    struct raw_kv *kv;
    size_t nkv;
};

struct raw_ini {
    const char *path;
    FILE *f;
    int line;
    int section_line;
    int new_section; /* a header was read since the last key */
    int continued;   /* the line read last begins with a blank: it continues a value */
    struct raw_section *sec;
    size_t nsec;
    struct config_errors *errs;
};

/* The many checks keep their short name for config_error_add(). */
#define add_error config_error_add

/* ---- config.c ---- */

/* config_load_for_reader: set while it loads, on its thread (config.c). */
extern _Thread_local int for_reader;
/* Where a key sits in the [kanald] table. */
size_t kanald_index(const char *name);
#define K(name) kanald_index(name)

/* ---- config_ini.c ---- */

/* inih's reader and handler: lines counted, sections and keys collected. */
char *counting_reader(char *str, int num, void *stream);
int on_ini_pair(void *user, const char *section, const char *name, const char *value);
void raw_free(struct raw_ini *ri);
/* text as option o's type: 0, or -EINVAL with why. */
int parse_value(const struct kanal_option *o, const char *text, int64_t *num, const char **why);
/* The key of s named key, or NULL. */
const struct raw_kv *raw_get(const struct raw_section *s, const char *key);
/* An error for each key s sets twice. */
void check_duplicates(const struct raw_section *s, const char *path, struct config_errors *errs);
/* p relative to the config file's folder (a copy). */
char *resolve_path(const char *cfg_path, const char *p);

/* ---- config_sections.c ---- */

/* STAGE_PROCESSOR or STAGE_SINK for a stage's section name, else 0. */
int stage_role(const char *section);
void build_source(struct config *cfg, const struct raw_section *s, const char *name,
                  struct loader *loader, const char *path, struct config_errors *errs);
void build_stage(struct config *cfg, const struct raw_section *s, struct loader *loader,
                 const char *path, struct config_errors *errs);
/* Which sink each source's answers wait for (ack = cluster). */
void resolve_acks(struct config *cfg, const char *path, struct config_errors *errs);

/* ---- config_secrets.c ---- */

/* The [kanald] <prefix>_* credentials of kanald's own NATS connection. */
void apply_nats_auth(const struct raw_section *s, const char *path, struct config_errors *errs,
                     const char *const *v, const char *prefix, struct config_nats_auth *out);
void free_nats_auth(struct config_nats_auth *a);
/* The [kanald] state_* keys: a core's state changes through the stream. */
void apply_state_keys(struct config *cfg, const struct raw_section *s, const char *path,
                      struct config_errors *errs, const char *const *v);

#endif
