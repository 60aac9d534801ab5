/* SPDX-License-Identifier: Apache-2.0 */
/* Secret references in the config: file:PATH, env:NAME, cred:NAME. */
#ifndef KANAL_SECRET_H
#define KANAL_SECRET_H

#include <stddef.h>
#include <sys/types.h>

/* Resolve ref into *out (malloc'ed).  A literal is accepted only when
 * inline_ok.  Returns 0, or -EINVAL with *why describing the problem. */
int secret_resolve(const char *ref, int inline_ok, char **out, const char **why);
/* --check-config --credentials-dir DIR: cred:NAME reads DIR/NAME instead
 * of $CREDENTIALS_DIRECTORY/NAME (dir must outlive the checks). */
void secret_set_credentials_dir(const char *dir);

enum { SECRET_FILE = 1, SECRET_CRED = 2 };
/* The file behind a file: or cred: reference: SECRET_FILE or SECRET_CRED
 * with path filled, 0 for any other reference (or cred: without a
 * credentials directory). */
int secret_file_of(const char *ref, char *path, size_t len);
/* path's mode bits when others may read, write or run it; 0 when they may
 * not; -errno when it cannot be looked at. */
int secret_others_mode(const char *path);

/* The service user whose access --check-config --user NAME checks. */
struct secret_user {
    char *name;
    char *group; /* the name of its primary group */
    uid_t uid;
    gid_t gid;
    gid_t *groups; /* every group of the user, the primary one included */
    int ngroups;
};
int secret_user_lookup(const char *name, struct secret_user *u, char *why, size_t len);
void secret_user_free(struct secret_user *u);
/* 0 when u may open path for reading, else -errno (-EACCES ...); -EPERM
 * when this process, not being root, cannot become u. */
int secret_user_can_read(const struct secret_user *u, const char *path);

/* Overwrite a secret before it is freed. */
void secret_wipe(char *s);

#endif
