/* Secret references in the config: file:PATH, env:NAME, cred:NAME. */
#ifndef KANAL_SECRET_H
#define KANAL_SECRET_H

/* Resolve ref into *out (malloc'ed).  A literal is accepted only when
 * inline_ok.  Returns 0, or -EINVAL with *why describing the problem. */
int secret_resolve(const char *ref, int inline_ok, char **out, const char **why);
/* Overwrite a secret before it is freed. */
void secret_wipe(char *s);

#endif
