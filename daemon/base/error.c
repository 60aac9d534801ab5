/* SPDX-License-Identifier: Apache-2.0 */
/* Names for kanal's own error codes and for negative errno values. */
#include <string.h>

#include <lmdb.h>

#include "error.h"
#include "kanal_errors.h"

const char *kanal_strerror(int err)
{
    return kanal_error_string(err); /* common/kanal_errors.h */
}
