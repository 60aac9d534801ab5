/* SPDX-License-Identifier: Apache-2.0 */
/* A matched route's path parameters (route_params.h). */
#include "route_params.h"

#include <string.h>

const char *route_param(const struct route_params *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->name[i], name) == 0)
            return p->value[i];
    return "";
}
