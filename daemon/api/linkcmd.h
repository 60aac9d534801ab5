/* SPDX-License-Identifier: Apache-2.0 */
/* A core of a cluster applies the state commands of tracking links
 * (linkcmd.c): "link" makes the link, "click" and "optout" append the hit's
 * record, on every core at the same point of the stream. */
#ifndef KANAL_LINKCMD_H
#define KANAL_LINKCMD_H

#include <jansson.h>

struct statecmd_run;
struct write_item;

/* A cluster's state command "link", "click" or "optout" (statecmd.c): the
 * item that makes the link or appends the hit's record on every core, or
 * NULL: *why says why when it is one of these with arguments kanald does
 * not take, NULL when it is another command. */
struct write_item *links_cmd_item(const char *command, json_t *args, struct statecmd_run *run,
                                  const char **why);

#endif
