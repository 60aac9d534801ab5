/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KANAL_ERROR_H
#define KANAL_ERROR_H

#include <kanal/plugin.h>

/* Name any kanal, LMDB or negative errno code. */
const char *kanal_strerror(int err);

#endif
