/* Secrets never need to be written into kanal.conf: they come from a file
 * (mode 0600), from the environment, or from systemd's LoadCredential=
 * ($CREDENTIALS_DIRECTORY).  Inline literals are for development configs and
 * only where the section says insecure_inline_secrets = yes. */
#include "secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static char why_buf[512];

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
        const char *dir = getenv("CREDENTIALS_DIRECTORY");
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

void secret_wipe(char *s)
{
    if (!s)
        return;
    /* volatile keeps the compiler from dropping the stores before free(). */
    for (volatile char *p = s; *p; p++)
        *p = 0;
}
