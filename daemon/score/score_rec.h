/* SPDX-License-Identifier: Apache-2.0 */
/* A record as a scoring run reads it once (build.c's score_rec_read) and
 * hands it to each audience's builder (build.h) and facts (value.h): in a
 * header of its own, so that value.c needs no build.h (build.h includes
 * value.h). */
#ifndef KANAL_SCORE_REC_H
#define KANAL_SCORE_REC_H

#include <stddef.h>
#include <stdint.h>

/* One record as the builders need it, read from its JSON once (with its
 * people resolved) and fed to each audience it is in. */
enum score_kind {
    SCORE_K_OTHER,
    SCORE_K_MESSAGE,
    SCORE_K_COMMENT,
    SCORE_K_POST,
    SCORE_K_MENTION,
    SCORE_K_REACTION,
    SCORE_K_SHARE,
    SCORE_K_CLICK,
    SCORE_K_SIGNUP, /* and checkin */
    SCORE_K_RECEIPT /* delivery, read, bounce */
};

struct score_rec {
    int ok;       /* an object with a kind */
    uint8_t kind; /* enum score_kind */
    uint8_t erased, bot, by_brand, peer_dir;
    uint8_t has_at; /* occurred_at given and read (else now) */
    uint8_t has_contact;
    int64_t at;
    uint32_t author;      /* pid: the author unless by_brand; NONE: unknown */
    uint32_t ord;         /* its number among the records a reply may answer; NONE: not one */
    uint32_t contact;     /* pid of rec.contact (has_contact), for the brand's answers */
    uint64_t self, reply; /* digests of source \0 external_id / reply_to; 0: none */
    uint64_t event;       /* digest of event.id; 0: none */
    uint8_t rated, positive, negative, complaint;
    /* parties: [0, nto) to's (brand PID_BRAND), [nto, nto + nment) the
     * mentions'; rcpt: to's customers with a handle, for recipient() */
    uint32_t *party, *rcpt;
    size_t nto, nment, nrcpt, cap;
};

#endif
