/* SPDX-License-Identifier: Apache-2.0 */
/* Signed JSON posts into the generic webhook plugin: see hmac_target.h. */
#define SIG_HEADER "X-Kanal-Signature"
#include "hmac_target.h"
