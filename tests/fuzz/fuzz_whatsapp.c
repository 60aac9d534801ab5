/* SPDX-License-Identifier: Apache-2.0 */
/* Meta webhooks into the whatsapp plugin: see hmac_target.h. */
#define SIG_HEADER "X-Hub-Signature-256"
#include "hmac_target.h"
