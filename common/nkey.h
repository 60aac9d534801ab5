/* SPDX-License-Identifier: Apache-2.0 */
/* Signing a NATS server's nonce with a user NKey seed (nkey.c), for
 * kanald's own NATS connections (daemon/base/natsconn.c) and the nats
 * plugin (plugins/nats/nats_common.c).  libnats 3.4.1's nats_Sign decodes
 * the seed with a base32 table that libnats fills while it initialises:
 * a signature asked for before that is done (the first use in a process,
 * or one thread connecting while another's first connection initialises
 * libnats) fails with "invalid seed", the server refuses the connection,
 * and the node never reaches NATS.  kanal decodes the seed as NATS encodes
 * it and signs with OpenSSL's Ed25519, which needs no such state. */
#ifndef KANAL_NKEY_H
#define KANAL_NKEY_H

#include <stddef.h>

/* Sign msg (len bytes) with the user seed "SU...": 0 and a malloc'd
 * 64-byte signature in *sig (the caller, or libnats, frees it), -EINVAL
 * for a text that is not a user seed (base32, CRC-16/XMODEM, prefixes),
 * -ENOMEM or -EIO when OpenSSL fails. */
int kanal_nkey_sign(const char *seed, const unsigned char *msg, size_t len, unsigned char **sig,
                    int *sig_len);

#endif
