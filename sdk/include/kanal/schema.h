/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The vocabulary of interaction schema v1 (sdk/schema/interaction-v1.json),
 * as initializer lists for C: kanald checks records with them, kanalctl
 * checks stores with them, and plugins may use them too.
 *
 *   static const char *const kinds[] = {KANAL_RECORD_KINDS};
 */
#ifndef KANAL_SCHEMA_H
#define KANAL_SCHEMA_H

/** Every record kind. */
#define KANAL_RECORD_KINDS                                                                     \
    "message", "comment", "post", "mention", "reaction", "share", "follow", "unfollow",       \
        "signup", "checkin", "cancel", "click", "delivery", "read", "bounce", "optout",       \
        "optin", "unknown", "merge", "split", "erase"

/** Kinds that need no "from" party: nobody acted. */
#define KANAL_KINDS_WITHOUT_FROM "unknown", "merge", "split", "erase"

/** The three sides of a relation. */
#define KANAL_RECORD_DIRECTIONS "inbound", "outbound", "peer"

/** Values of "status" (delivery, read, bounce). */
#define KANAL_RECORD_STATUSES "sent", "delivered", "read", "failed"

/** Roles of a party. */
#define KANAL_PARTY_ROLES "customer", "brand"

/** What a party's handles prove (docs/identity.md); unmarked is asserted. */
#define KANAL_PARTY_TRUSTS "verified", "asserted"

/** Every field of a record, in the order kanald stores them. */
#define KANAL_RECORD_FIELDS                                                                    \
    "v", "seq", "id", "source", "channel", "kind", "direction", "occurred_at", "received_at",  \
        "external_id", "thread", "reply_to", "from", "to", "mentions", "subject", "text",      \
        "attachments", "event", "campaign", "status", "contact", "meta", "raw", "annotations"

/** Fields every stored record has. */
#define KANAL_RECORD_REQUIRED_FIELDS                                                           \
    "v", "seq", "id", "source", "channel", "kind", "direction", "occurred_at", "received_at",  \
        "external_id", "to", "mentions", "attachments", "meta"

/** Fields of a party, an attachment, an event. */
#define KANAL_PARTY_FIELDS "handle", "name", "role", "handles", "trust"
#define KANAL_ATTACHMENT_FIELDS "type", "url", "mime", "size", "name", "id", "caption"
#define KANAL_EVENT_FIELDS "id", "name", "starts_at"

/** The deepest nesting a record may have, counted the way jansson's reader
 * counts it: every value is one level, the record itself the first, so a
 * member of "meta" is at level 3.  kanald's reader refuses deeper JSON from
 * plugins, record checks refuse deeper meta and raw, and its writer never
 * meets deeper values; a plugin keeping a provider's payload in raw (level 2)
 * keeps it as JSON only when the payload is at most KANAL_MAX_DEPTH - 1
 * levels deep (one less in an array of records: the limit applies to the
 * text emitted).  Well below jansson's 2048, so that every reader of the
 * feed can read every record. */
#define KANAL_MAX_DEPTH 64

#endif /* KANAL_SCHEMA_H */
