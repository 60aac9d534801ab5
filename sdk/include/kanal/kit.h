/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kanal plugin kit: the parts every channel plugin needs, written once.
 *
 * A static library (libkanal-plugin-kit.a, linked by `pkg-config --libs
 * kanal-plugin`) that uses only libc and the host table: no JSON library
 * is forced on a plugin.  It gives
 *   - JSON text: a growing buffer, a string escaper, a validator, and
 *     answers with JSON text or with {"error":{"code","message"}};
 *   - the answer after the commit: emit, then 2xx with the body the plugin
 *     gives (or {"seqs":[...]}), 503 + Retry-After when the store cannot
 *     commit, and the payload kept as kind "unknown" when kanald refuses
 *     the record itself — the promise "2xx only after the commit", kept in
 *     one audited place;
 *   - the same promise without HTTP (kanal_kit_emit_then): emit, fall back
 *     to the plugin's unknown record when kanald refuses the records, and
 *     call back once with committed, retry later, or failed;
 *   - unknown records built the same way in and out of tree: external id
 *     from a digest of the payload, raw as JSON when the payload is JSON,
 *     else as text, else {"base64": ...}, and meta.reason;
 *   - option binding by offsetof: a table fills the plugin's state from
 *     host->config_string/config_int in one call.
 * Every function runs on the loop thread, like the host's.
 */
#ifndef KANAL_KIT_H
#define KANAL_KIT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <kanal/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- JSON text ---- */

/** A growing NUL-terminated text; start with {0}, free with kanal_kit_buf_free. */
struct kanal_kit_buf {
    char *data;
    size_t len;
    size_t cap;
    int err; /**< -ENOMEM once an append failed; later appends do nothing */
};

void kanal_kit_buf_free(struct kanal_kit_buf *b);
/** Append n bytes. @return 0 or -ENOMEM (also kept in b->err) */
int kanal_kit_buf_add(struct kanal_kit_buf *b, const char *s, size_t n);
/** Append formatted text. @return 0 or -ENOMEM */
int kanal_kit_buf_printf(struct kanal_kit_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/** Write v in decimal to out, NUL-terminated. @return its length */
size_t kanal_kit_u64(char out[24], uint64_t v);
/**
 * Append s[0..n) as a quoted JSON string: '"', '\\' and control characters
 * escaped.  The text must be UTF-8 (see kanal_kit_utf8_valid); a NUL byte
 * is written as \u0000, which kanald's store refuses in a record.
 * @return 0 or -ENOMEM
 */
int kanal_kit_buf_json_string(struct kanal_kit_buf *b, const char *s, size_t n);

/** 1 when s[0..n) is UTF-8 (no overlong forms, no surrogates), else 0. */
int kanal_kit_utf8_valid(const char *s, size_t n);

/**
 * Check that text is one JSON object or array (RFC 8259, UTF-8), with no
 * NUL byte or \u0000 in it; *depth gets its nesting (the value itself is 1).
 * Nesting beyond max_depth is refused without recursing further.
 * @return 1 when valid, else 0
 */
int kanal_kit_json_valid(const char *text, size_t len, int max_depth, int *depth);

/** Nesting kanal_kit_json_get_string accepts (kanald stores at most KANAL_MAX_DEPTH). */
#define KANAL_KIT_MAX_DEPTH 64

/**
 * Read the string member key of the top-level object in text, unescaped,
 * into out[cap] (NUL-terminated).  Enough to normalize a simple JSON
 * webhook without a JSON library; keys are compared as written.
 * @return 0, -ENOENT (no such member), -EINVAL (text is not a JSON object,
 *         or the member is not a string), -ENOBUFS (out is too small)
 */
int kanal_kit_json_get_string(const char *text, size_t len, const char *key, char *out, size_t cap);

/**
 * kanal_kit_json_get_string for the record text kanald hands a processor
 * (process(): kanald wrote it, so it is valid JSON): the same answer on
 * valid text, but reading stops at the member, so what follows it (a large
 * `raw`) is not checked again.  Any bytes are still read within len; on
 * text that is not valid JSON the answer is one of the codes above.
 */
int kanal_kit_record_get_string(const char *record, size_t len, const char *key, char *out,
                                size_t cap);

/** Answer req with JSON text (application/json). @return http_respond's result */
int kanal_kit_respond_json(const struct kanal_host *host, struct kanal_http_request *req,
                           int status, const char *json);
/** Answer req with {"error":{"code":code,"message":message}}, both escaped. */
int kanal_kit_respond_error(const struct kanal_host *host, struct kanal_http_request *req,
                            int status, const char *code, const char *message);

/* ---- unknown records ---- */

/** How to keep an authentic payload kanal cannot read. */
struct kanal_kit_unknown {
    const char *id_prefix; /**< external_id is "<id_prefix>-<hex digest of the payload>" */
    const char *reason;    /**< meta.reason: why it is not a record */
    size_t raw_max;        /**< keep at most this many bytes in raw (0: all; kanald
                                bounds raw by [kanald] unknown_raw_max in any case) */
};

/**
 * Build the record text of an unknown record for payload: kind "unknown",
 * direction "inbound", external_id from a keyed SHA-256 of the payload (a
 * redelivery is the same record), raw as the JSON itself when the payload
 * is a JSON object or array that fits raw_max and KANAL_MAX_DEPTH - 1
 * levels, else as a string when (its first raw_max bytes, cut on a
 * character boundary) are UTF-8 without NUL, else {"base64": ...}; meta
 * has reason, body_size, body_sha256 (hex) and raw_truncated.
 * @param out  receives the malloc'd NUL-terminated text; free() it
 * @return 0 or -ENOMEM
 */
int kanal_kit_unknown_record(const struct kanal_host *host, const struct kanal_kit_unknown *u,
                             const void *payload, size_t len, char **out);

/** SHA-256 of data into out[32] (for digests that need no key). */
void kanal_kit_sha256(const void *data, size_t len, unsigned char out[32]);

/* ---- emit, then act on the outcome ---- */

/** How an emit ended. */
enum kanal_kit_outcome {
    KANAL_KIT_COMMITTED = 0, /**< the records (or the fallback) are durably committed */
    KANAL_KIT_RETRY,         /**< the store cannot commit now (KANAL_ESTORE, KANAL_ESTOPPED,
                                  another store error): nothing stored, try again later */
    KANAL_KIT_FAILED,        /**< refused even as unknown (KANAL_ERECORD) or out of memory
                                  (-ENOMEM): the same emit again ends the same way */
};

/** The outcome of a status: 0 (or more) committed, else retry or failed. */
enum kanal_kit_outcome kanal_kit_outcome_of(int status);

/** What kanal_kit_emit_then's done callback is told. */
struct kanal_kit_result {
    enum kanal_kit_outcome outcome;
    int status;           /**< 0, or the negative error (host->strerror names it) */
    int as_unknown;       /**< the fallback was emitted instead of the records */
    const uint64_t *seqs; /**< committed: the seqs, as kanal_emit_cb's (valid during the call) */
    size_t n;
};

typedef void (*kanal_kit_done_cb)(void *arg, const struct kanal_kit_result *res);

/**
 * Build the fallback record text when it is needed (and only then).
 * @return 0 with *json malloc'd (the kit frees it), or a negative error
 */
typedef int (*kanal_kit_fallback_fn)(void *arg, char **json);

/**
 * The record to keep instead when kanald refuses the records themselves:
 * an unknown record (see kanal_kit_unknown_record), prepared or built.
 */
struct kanal_kit_fallback {
    const char *json;            /**< the record text (copied), or NULL */
    kanal_kit_fallback_fn build; /**< or: called with build_arg once it is needed */
    void *build_arg;             /**< must stay valid until done is called */
    /** Committed with the fallback instead of the emit's (copied): e.g. the
     *  cursor, so the refused payload is not read again. */
    const struct kanal_state_entry *states;
    size_t nstates;
};

/**
 * Emit json (may be NULL with states only) with states, and call done once
 * the emit has ended.  When kanald refuses the records (KANAL_ERECORD, from
 * emit or in the commit callback) the fallback, if any, is emitted instead
 * with its own states; nothing at all to emit counts as refused.
 * @return 0 when queued; 1 when the records were refused and the fallback
 *         was queued instead: done is called later, exactly once, never
 *         from within this call.  Or a negative error (KANAL_ERECORD: refused
 *         and no fallback, or the fallback refused too; KANAL_ESTORE ...):
 *         nothing was queued and done is not called; kanal_kit_outcome_of()
 *         says what it means.
 */
int kanal_kit_emit_then(const struct kanal_host *host, struct kanal_source *src, const char *json,
                        size_t len, const struct kanal_state_entry *states, size_t nstates,
                        const struct kanal_kit_fallback *fallback, kanal_kit_done_cb done,
                        void *arg);

/* ---- emit, then answer ---- */

/** What to answer a request once its records are committed, or not. */
struct kanal_kit_answer {
    int status;               /**< after the commit: 0 means 200 */
    const char *content_type; /**< of body; NULL: application/json */
    const char *body;         /**< NULL: {"seqs":[...]} from the committed seqs */
    const char *location;     /**< a Location header with the 2xx, or NULL */
    int records_unknown;      /**< the records are themselves kind unknown: the
                                   {"seqs"} body says "stored_as":"unknown" */
    const char *retry_after;  /**< the 503's Retry-After in seconds; NULL: "5" */
    const char *busy_type;    /**< content type of busy_body; NULL: text/plain */
    const char *busy_body;    /**< the 503's body; NULL: JSON error store_unavailable */
    /**
     * When kanald refuses the records themselves (KANAL_ERECORD, from emit
     * or in the commit callback), keep the payload as unknown: either the
     * prepared record text unknown_json, or one built with unknown from
     * payload (NULL: the request's body).  Neither: the error is answered
     * 422 "unstorable" — retrying cannot help.
     */
    const char *unknown_json;
    const struct kanal_kit_unknown *unknown;
    const void *payload;
    size_t payload_len;
    int unknown_status;       /**< stored as unknown: 0 means the same as status */
    const char *unknown_body; /**< NULL: body, or {"seqs":[...],"stored_as":"unknown"} */
    /**
     * Optional: called once the emit has ended, whatever the outcome, just
     * before the answer (e.g. to drop state the plugin kept until the
     * commit).  status is the emit's outcome, as kanal_emit_cb's.
     */
    void (*done)(void *arg, int status);
    void *done_arg;
};

/**
 * Emit json (may be NULL with states only) with states, and answer req
 * exactly once: 2xx only after the commit; 503 with Retry-After and a JSON
 * error (or busy_body) on KANAL_ESTORE, KANAL_ESTOPPED or any other store
 * error, so the provider retries; the unknown fallback on KANAL_ERECORD;
 * 500 when memory runs out.  The answer's strings are copied.
 * @return 0 when json and states were queued; 1 when kanald refused the
 *         records and the payload was queued as unknown instead (without
 *         the states); or the negative error the request was answered with
 *         (for the plugin's own log line).  done is called only after 0 or 1.
 */
int kanal_kit_emit_answer(const struct kanal_host *host, struct kanal_source *src,
                          struct kanal_http_request *req, const char *json, size_t len,
                          const struct kanal_state_entry *states, size_t nstates,
                          const struct kanal_kit_answer *answer);

/* ---- options bound by offsetof ---- */

/** How an option's value is stored in the plugin's state. */
enum kanal_kit_bind_type {
    KANAL_KIT_STR = 1, /**< const char *: host-owned text (valid until the source stops) */
    KANAL_KIT_INT64,   /**< int64_t: INT, BOOL (0/1), DURATION (ms) or SIZE (bytes) */
    KANAL_KIT_INT,     /**< int: the same, refused when it does not fit */
    KANAL_KIT_BOOL,    /**< int 0/1 */
};

/** One bound option; the table ends with an entry whose name is NULL. */
struct kanal_kit_bind {
    const char *name; /**< the option, as in the plugin's kanal_option table */
    enum kanal_kit_bind_type type;
    size_t offset; /**< offsetof(struct my_state, member) */
};

/**
 * Fill state from the source's options: each entry's value is read with
 * config_string or config_int and stored at state + offset.  An option
 * unset without default leaves its member as it was (e.g. NULL).
 * @return 0, or KANAL_ECONFIG after logging which option and why
 */
int kanal_kit_bind_options(const struct kanal_host *host, struct kanal_source *src,
                           const struct kanal_kit_bind *table, void *state);

#ifdef __cplusplus
}
#endif

#endif
