/* SPDX-License-Identifier: Apache-2.0 */
/* X account activity webhooks into the twitter plugin, and the CRC GET
 * with a fuzzed crc_token (SEL_GET | SEL_QUERY): see hmac_target.h. */
#define SIG_HEADER "x-twitter-webhooks-signature"
#define SIG_BASE64 1
#include "hmac_target.h"
