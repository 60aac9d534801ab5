/* SPDX-License-Identifier: Apache-2.0 */
/* Secrets as --check-config checks them: a secret's file open to other
 * users, or one the service user (--user) cannot read; and kanald's own
 * NATS connections: their credentials ([kanald] outbox_* and state_*),
 * resolved as a plugin's secrets are, and the state stream's keys.  Part
 * of the configuration (config.c). */
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "util.h"

/* --check-config --user NAME: the service user whose access is checked. */
static const struct secret_user *service_user;

void config_set_service_user(const struct secret_user *u)
{
    service_user = u;
}

void config_check_secret_file(struct config_errors *errs, const char *path, int line,
                              const char *what, const char *file, int kind)
{
    int mode = secret_others_mode(file);
    if (mode > 0)
        config_warning_add(errs, path, line,
                           "%s: %s is open to other users (mode %04o); remove their "
                           "access (chmod o-rwx %s)",
                           what, file, (unsigned)mode, file);
    /* systemd reads a credential as root and hands kanald a private copy:
     * only file: secrets and the tokens file are read as the service user. */
    if (!service_user || kind == SECRET_CRED)
        return;
    int r = secret_user_can_read(service_user, file);
    if (r < 0)
        add_error(errs, path, line,
                  "%s: user %s cannot read %s: %s (kanald runs as %s: make it root:%s, mode "
                  "0640%s)",
                  what, service_user->name, file, strerror(-r), service_user->name,
                  service_user->group, kind == SECRET_FILE ? ", or use cred:NAME" : "");
}

/* The credentials of kanald's own NATS connection <prefix>_servers: files
 * relative to the config's folder, secrets resolved as a plugin's are
 * (cred:, file:, env:; never inline), and only combinations that can work. */

void apply_nats_auth(const struct raw_section *s, const char *path, struct config_errors *errs,
                     const char *const *v, const char *prefix, struct config_nats_auth *out)
{
    char key[6][40];
    static const char *const names[] = {"creds", "nkey", "nkey_public", "user", "password",
                                        "tls_ca"};
    for (size_t i = 0; i < 6; i++)
        snprintf(key[i], sizeof key[i], "%s_%s", prefix, names[i]);
    const char *secrets[] = {key[1], key[4]};
    char **dest[] = {&out->nkey, &out->password};
    for (size_t i = 0; i < ARRAY_SIZE(secrets); i++) {
        const struct raw_kv *kv = raw_get(s, secrets[i]);
        if (!kv || for_reader)
            continue;
        const char *swhy = NULL;
        if (secret_resolve(kv->value, 0, dest[i], &swhy) < 0) {
            add_error(errs, path, kv->line, "secret '%s': %s", secrets[i], swhy);
            continue;
        }
        char file[4096], label[160];
        int kind = secret_file_of(kv->value, file, sizeof file);
        snprintf(label, sizeof label, "secret '%s'", secrets[i]);
        if (kind)
            config_check_secret_file(errs, path, kv->line, label, file, kind);
    }
    if (v[K(key[0])])
        out->creds = resolve_path(path, v[K(key[0])]);
    if (v[K(key[5])])
        out->tls_ca = resolve_path(path, v[K(key[5])]);
    if (v[K(key[2])])
        out->nkey_public = xstrdup(v[K(key[2])]);
    if (v[K(key[3])])
        out->user = xstrdup(v[K(key[3])]);
    int has_creds = raw_get(s, key[0]) != NULL, has_nkey = raw_get(s, key[1]) != NULL;
    int has_pub = raw_get(s, key[2]) != NULL, has_user = raw_get(s, key[3]) != NULL;
    int has_pw = raw_get(s, key[4]) != NULL;
    const struct raw_kv *kv = NULL;
    if (has_user != has_pw) {
        kv = raw_get(s, has_user ? key[3] : key[4]);
        add_error(errs, path, kv->line, "'%s' and '%s' go together", key[3], key[4]);
    } else if (has_nkey != has_pub) {
        kv = raw_get(s, has_nkey ? key[1] : key[2]);
        add_error(errs, path, kv->line, "'%s' and '%s' go together", key[1], key[2]);
    } else if (has_creds + has_nkey + has_user > 1) {
        kv = raw_get(s, has_creds ? key[0] : key[1]);
        add_error(errs, path, kv->line, "choose one of %s, %s or %s + %s", key[0], key[1],
                  key[3], key[4]);
    }
}

void free_nats_auth(struct config_nats_auth *a)
{
    free(a->creds);
    free(a->nkey_public);
    free(a->user);
    free(a->tls_ca);
    if (a->nkey)
        secret_wipe(a->nkey);
    if (a->password)
        secret_wipe(a->password);
    free(a->nkey);
    free(a->password);
}

/* The [kanald] state_* keys: a core's state changes through the stream. */
void apply_state_keys(struct config *cfg, const struct raw_section *s, const char *path,
                      struct config_errors *errs, const char *const *v)
{
    cfg->state_cluster = xstrdup(v[K("state_cluster")]);
    cfg->state_servers = xstrdup(v[K("state_servers")]);
    cfg->state_stream = xstrdup(v[K("state_stream")]);
    cfg->state_subject = xstrdup(v[K("state_subject")]);
    const char *bad = NULL, *key = NULL;
    if (!*cfg->state_stream || strpbrk(cfg->state_stream, ". *>\t"))
        bad = "no blanks, wildcards or '.'", key = "state_stream";
    else if (!*cfg->state_subject || strpbrk(cfg->state_subject, " *>\t"))
        bad = "no blanks or wildcards", key = "state_subject";
    int nurls = 0;
    char *urls = xstrdup(cfg->state_servers);
    for (char *save = NULL, *t = strtok_r(urls, ", \t", &save); t && !bad;
         t = strtok_r(NULL, ", \t", &save), nurls++)
        if ((strncmp(t, "nats://", 7) && strncmp(t, "tls://", 6)) || !strchr(t, ':')[3])
            bad = "not nats:// or tls:// URLs", key = "state_servers";
    free(urls);
    if (!bad && (!nurls || nurls > 32))
        bad = "1 to 32 URLs wanted", key = "state_servers";
    if (bad) {
        const struct raw_kv *kv = raw_get(s, key);
        add_error(errs, path, kv ? kv->line : s->line, "'%s': %s", key, bad);
    }
}
