/* SPDX-License-Identifier: Apache-2.0 */
/* Whether two score_pre (daemon/score/pre.h) say the same of a record:
 * the name of the first field they differ in, or NULL.  Shared by
 * test_score_prescan and tests/fuzz/fuzz_prescan.c. */
#ifndef KANAL_TEST_PRE_SAME_H
#define KANAL_TEST_PRE_SAME_H

#include <string.h>

#include "pre.h"

static inline int pre_str_differ(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

static inline int pre_parties_differ(const struct score_pre_party *a, size_t na,
                                     const struct score_pre_party *b, size_t nb)
{
    if (na != nb)
        return 1;
    for (size_t i = 0; i < na; i++)
        if (a[i].brand != b[i].brand || pre_str_differ(a[i].handle, b[i].handle))
            return 1;
    return 0;
}

static inline const char *pre_differ(const struct score_pre *a, const struct score_pre *b)
{
#define PRE_NUM(f)    \
    if (a->f != b->f) \
        return #f;
#define PRE_STR(f)                  \
    if (pre_str_differ(a->f, b->f)) \
        return #f;
    PRE_NUM(ok)
    PRE_NUM(kind) PRE_NUM(erased) PRE_NUM(bot) PRE_NUM(by_brand) PRE_NUM(peer_dir) PRE_NUM(has_at)
        PRE_NUM(at) PRE_NUM(rated) PRE_NUM(positive) PRE_NUM(negative) PRE_NUM(complaint)
            PRE_NUM(has_from) PRE_NUM(from_brand) PRE_NUM(self) PRE_NUM(reply) PRE_NUM(event)
                PRE_STR(kind_name) PRE_STR(source) PRE_STR(channel) PRE_STR(campaign)
                    PRE_STR(event_id) PRE_STR(cid)
                        PRE_STR(from_handle) if (pre_parties_differ(a->to, a->nto, b->to,
                                                                    b->nto)) return "to";
    if (pre_parties_differ(a->mentions, a->nment, b->mentions, b->nment))
        return "mentions";
#undef PRE_NUM
#undef PRE_STR
    return NULL;
}

#endif
