/* SPDX-License-Identifier: Apache-2.0 */
/* Secrets never need to be written into kanal.conf: they come from a file
 * (mode 0640 root:kanal: kanald reads it as its service user), from the
 * environment, or from systemd's LoadCredential= ($CREDENTIALS_DIRECTORY).
 * Inline literals are for development configs and only where the section
 * says insecure_inline_secrets = yes.
 *
 * --check-config runs as root, without systemd: the credentials directory
 * can be given instead of $CREDENTIALS_DIRECTORY, and whether the service
 * user can read a file is checked by a child that becomes that user. */
#include "secret.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "util.h"

static char why_buf[512];
static const char *cred_dir_override; /* --credentials-dir */

void secret_set_credentials_dir(const char *dir)
{
    cred_dir_override = dir;
}

static const char *cred_dir(void)
{
    return cred_dir_override ? cred_dir_override : getenv("CREDENTIALS_DIRECTORY");
}

static int from_file(const char *path, char **out, const char **why, const char *what)
{
    char *data;
    size_t len;
    int r = util_read_file(path, &data, &len);
    if (r < 0) {
        snprintf(why_buf, sizeof why_buf, "cannot read %s %s: %s", what, path, strerror(-r));
        *why = why_buf;
        return -EINVAL;
    }
    /* Files written by editors and echo end with a newline that is not part
     * of the secret. */
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        data[--len] = '\0';
    if (len == 0) {
        free(data);
        snprintf(why_buf, sizeof why_buf, "%s %s is empty", what, path);
        *why = why_buf;
        return -EINVAL;
    }
    *out = data;
    return 0;
}

int secret_resolve(const char *ref, int inline_ok, char **out, const char **why)
{
    *out = NULL;
    if (strncmp(ref, "file:", 5) == 0)
        return from_file(ref + 5, out, why, "secret file");
    if (strncmp(ref, "env:", 4) == 0) {
        const char *v = getenv(ref + 4);
        if (!ref[4]) {
            *why = "env: needs the name of an environment variable";
            return -EINVAL;
        }
        if (!v || !*v) {
            snprintf(why_buf, sizeof why_buf, "environment variable %s is not set or empty",
                     ref + 4);
            *why = why_buf;
            return -EINVAL;
        }
        *out = xstrdup(v);
        return 0;
    }
    if (strncmp(ref, "cred:", 5) == 0) {
        const char *dir = cred_dir();
        if (!dir || !*dir) {
            snprintf(why_buf, sizeof why_buf,
                     "cred:%s needs systemd's LoadCredential= ($CREDENTIALS_DIRECTORY is not set)",
                     ref + 5);
            *why = why_buf;
            return -EINVAL;
        }
        if (!ref[5] || strchr(ref + 5, '/')) {
            *why = "a credential name must not be empty or contain '/'";
            return -EINVAL;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, ref + 5);
        return from_file(path, out, why, "credential");
    }
    /* An empty key still "signs": a body HMAC'ed with it would pass. */
    if (!*ref) {
        *why = "is empty; a secret must not be empty";
        return -EINVAL;
    }
    if (!inline_ok) {
        *why = "written inline; use file:PATH, env:NAME or cred:NAME (or set "
               "insecure_inline_secrets = yes in a development config)";
        return -EINVAL;
    }
    *out = xstrdup(ref);
    return 0;
}

int secret_file_of(const char *ref, char *path, size_t len)
{
    if (strncmp(ref, "file:", 5) == 0) {
        snprintf(path, len, "%s", ref + 5);
        return SECRET_FILE;
    }
    const char *dir = cred_dir();
    if (strncmp(ref, "cred:", 5) == 0 && dir && *dir) {
        snprintf(path, len, "%s/%s", dir, ref + 5);
        return SECRET_CRED;
    }
    return 0;
}

int secret_others_mode(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return -errno;
    return (st.st_mode & S_IRWXO) ? (int)(st.st_mode & 07777) : 0;
}

int secret_user_lookup(const char *name, struct secret_user *u, char *why, size_t len)
{
    *u = (struct secret_user){0};
    struct passwd *pw = getpwnam(name);
    if (!pw) {
        snprintf(why, len, "no user named '%s'", name);
        return -ENOENT;
    }
    u->name = xstrdup(name);
    u->uid = pw->pw_uid;
    u->gid = pw->pw_gid;
    struct group *gr = getgrgid(u->gid);
    if (gr) {
        u->group = xstrdup(gr->gr_name);
    } else {
        char num[24];
        snprintf(num, sizeof num, "%u", (unsigned)u->gid);
        u->group = xstrdup(num);
    }
    /* Every group the user is in, as the service manager would set them
     * (systemd's User= takes the user's supplementary groups too). */
    int n = 16;
    for (;;) {
        u->groups = xrealloc(u->groups, (size_t)n * sizeof *u->groups);
        int want = n;
        if (getgrouplist(name, u->gid, u->groups, &want) >= 0) {
            u->ngroups = want;
            break;
        }
        n = want > n ? want : n * 2;
    }
    return 0;
}

void secret_user_free(struct secret_user *u)
{
    free(u->name);
    free(u->group);
    free(u->groups);
    *u = (struct secret_user){0};
}

int secret_user_can_read(const struct secret_user *u, const char *path)
{
    /* Opening the file as the user is the one check that sees everything the
     * kernel does: owner, group, others, ACLs and the directories above. */
    if (u->uid == geteuid()) { /* already that user: its own groups apply */
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        close(fd);
        return 0;
    }
    if (geteuid() != 0)
        return -EPERM;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int err = 0;
        if (setgroups((size_t)u->ngroups, u->groups) < 0 || setresgid(u->gid, u->gid, u->gid) < 0 ||
            setresuid(u->uid, u->uid, u->uid) < 0) {
            err = errno ? errno : EPERM;
        } else {
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            err = fd < 0 ? errno : 0;
        }
        _exit(err > 0 && err < 256 ? err : err ? EIO : 0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -errno;
    if (!WIFEXITED(status))
        return -EIO;
    return -WEXITSTATUS(status);
}

void secret_wipe(char *s)
{
    if (!s)
        return;
    /* volatile keeps the compiler from dropping the stores before free(). */
    for (volatile char *p = s; *p; p++)
        *p = 0;
}
