/* SPDX-License-Identifier: Apache-2.0 */
/* kanalctl score's parts: the command (score.c) and its picture
 * (score_svg.c, the one file that links Graphviz). */
#ifndef KANALCTL_SCORE_H
#define KANALCTL_SCORE_H

#include <stdint.h>

#include <jansson.h>

#include "build.h"
#include "kanalctl.h"

/* A row's name to show: its contact's name, else its first handle, else
 * the contact id. */
const char *score_label(json_t *row);
/* row[obj][key] as a number; *have (if given) says whether it was one. */
double score_sub(json_t *row, const char *obj, const char *key, int *have);

/* Draw b's graph into the SVG file path with Graphviz's sfdp layout, the
 * nodes sized and coloured from doc's rows (the scores), the first top
 * rows (0: all) labelled by name, at most max_nodes contacts (0: all)
 * drawn, the most influential first.  0, or CTL_FAILED after saying why. */
int score_svg(const char *path, json_t *doc, const struct score_build *b, uint64_t top,
              uint64_t max_nodes);

#endif
