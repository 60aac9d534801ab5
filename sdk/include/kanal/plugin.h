/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kanal plugin ABI.
 *
 * A channel plugin is a shared object, <name>.so, in kanald's plugin_dir.
 * It exports exactly one symbol, kanal_plugin_entry(), which returns a
 * pointer to a static struct kanal_plugin.  The host validates the plugin's
 * option table against the source's config section, then calls init() with a
 * struct kanal_host: the only way a plugin reaches the daemon.  Plugins must
 * not reference any daemon symbol and must not keep global mutable state.
 *
 * Threading: every callback runs on kanald's single event-loop thread.  A
 * callback must never block: no blocking sockets, no sleep(), no
 * curl_easy_perform().  Use the host's timers, fd watches and asynchronous
 * transfers instead.
 *
 * Errors: every function returns int, 0 on success or a negative errno.
 * kanal's own codes are the KANAL_E* values below; host->strerror() names
 * any of them.
 *
 * Pipeline stages (ABI 1.1): the same plugin may also serve [processor NAME]
 * sections (process(): annotate or drop records before they are stored) and
 * [sink NAME] sections (deliver(): committed records, in seq order, from a
 * cursor kept in the store).  struct kanal_source then stands for the
 * processor or sink: the host functions work the same for all three.
 *
 * Relaying (ABI 1.2): a source whose plugin sets KANAL_PLUGIN_RELAY in its
 * descriptor's flags may hand the host records already normalized and
 * stored elsewhere (another kanald's, e.g. read from a cluster's stream)
 * with relay(): they are stored as they are, their id, source, channel
 * and times kept; only seq and the contact are this node's own.
 *
 * Compatibility: both structs start with abi_major, abi_minor and size.  The
 * host refuses a plugin whose major differs, whose minor is newer than its
 * own, or whose size is smaller than the host's version 1.0 descriptor.  New
 * members are only ever appended (and the minor grows); a plugin must check
 * host->abi_minor (or host->size, with KANAL_HOST_HAS) before using a member added after 1.0.
 */
#ifndef KANAL_PLUGIN_H
#define KANAL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Major version: changes only when existing members change meaning. */
#define KANAL_ABI_MAJOR 1
/** Minor version: grows when members are appended. */
#define KANAL_ABI_MINOR 2

/** Mark the entry point so it stays visible under -fvisibility=hidden. */
#define KANAL_PLUGIN_EXPORT __attribute__((visibility("default")))

/* kanal's own error codes: one reserved negative range. */
#define KANAL_EBASE (-32000)
#define KANAL_ERECORD (KANAL_EBASE - 1)    /**< record does not match schema v1 */
#define KANAL_ESTORE (KANAL_EBASE - 2)     /**< the store cannot commit now */
#define KANAL_EABI (KANAL_EBASE - 3)       /**< plugin is not binary compatible */
#define KANAL_ECONFIG (KANAL_EBASE - 4)    /**< invalid configuration */
#define KANAL_ESIGNATURE (KANAL_EBASE - 5) /**< signature missing or wrong */
#define KANAL_ESTOPPED (KANAL_EBASE - 6)   /**< the source or daemon is stopping */
#define KANAL_EHANDLE (KANAL_EBASE - 7)    /**< handle cannot be normalized */
#define KANAL_EREPLICA (KANAL_EBASE - 8)   /**< committed; the cluster did not ack in time */
#define KANAL_ELAST (KANAL_EBASE - 8)

/** Log levels; the numbers are syslog's and sd-daemon's priorities. */
enum kanal_log_level {
    KANAL_LOG_ERR = 3,
    KANAL_LOG_WARNING = 4,
    KANAL_LOG_NOTICE = 5,
    KANAL_LOG_INFO = 6,
    KANAL_LOG_DEBUG = 7,
};

/** Types an option may declare; the host parses and checks them. */
enum kanal_option_type {
    KANAL_OPT_STRING = 1, /**< any text */
    KANAL_OPT_SECRET,     /**< file:PATH, env:NAME or cred:NAME (inline only if allowed) */
    KANAL_OPT_INT,        /**< decimal integer */
    KANAL_OPT_BOOL,       /**< yes/no, true/false, on/off, 1/0 */
    KANAL_OPT_DURATION,   /**< 250ms, 30s, 5m, 2h, 1d; read back in milliseconds */
    KANAL_OPT_SIZE,       /**< 512, 64K, 1M, 2G; read back in bytes */
    KANAL_OPT_ENUM,       /**< one of the '|'-separated words in choices */
    KANAL_OPT_URL,        /**< an absolute http(s)/imap(s)/smtp(s) URL */
};

/** One option of a plugin; the table ends with an entry whose name is NULL. */
struct kanal_option {
    const char *name;          /**< key in the source's config section */
    enum kanal_option_type type;
    const char *default_value; /**< text form of the default, or NULL */
    int required;              /**< non-zero: the section must set it */
    const char *help;          /**< one line for --help and the docs */
    const char *choices;       /**< KANAL_OPT_ENUM: "webhook|poll|both" */
};

/** A configured channel instance (one [source NAME] section); opaque. */
struct kanal_source;
/** A running timer; opaque, owned by the host until stopped. */
struct kanal_timer;
/** A watched file descriptor; opaque. */
struct kanal_watch;

/** A plugin cursor or other state entry, committed atomically with records. */
struct kanal_state_entry {
    const char *key;   /**< NUL-terminated key, unique within the source */
    const void *value; /**< bytes to store; NULL with len 0 deletes the key */
    size_t len;
};

/**
 * Called on the loop thread once an emit is durably committed, or failed.
 * @param arg    the pointer given to emit()
 * @param status 0, or a negative error (KANAL_ESTORE: answer 503 so the
 *               provider retries; KANAL_EREPLICA: committed here, but the
 *               source has ack = cluster and the cluster sink did not
 *               acknowledge in time, so answer 503 too: the retry is
 *               de-duplicated; KANAL_ERECORD: the store refused these
 *               records themselves, which emit() normally finds out first,
 *               so keep the payload another way, e.g. as kind "unknown")
 * @param seqs   the store position of each record, in the order emitted; a
 *               record whose idempotency key was already stored gets the
 *               existing seq and nothing new is written
 * @param n      number of entries in seqs (0 when status is not 0)
 */
typedef void (*kanal_emit_cb)(void *arg, int status, const uint64_t *seqs, size_t n);

typedef void (*kanal_timer_cb)(void *arg);
typedef void (*kanal_watch_cb)(void *arg, int fd, int events);

/**
 * Called when an asynchronous transfer ends.
 * @param result the CURLcode of the transfer (0 is CURLE_OK)
 * @param easy   the CURL easy handle, still owned by the plugin
 */
typedef void (*kanal_transfer_cb)(void *arg, int result, void *easy);

/** Called by form_decode() once per name=value pair, both decoded. */
typedef int (*kanal_form_cb)(void *arg, const char *name, const char *value);

/** Events for watch_fd(). */
#define KANAL_WATCH_READ 1
#define KANAL_WATCH_WRITE 2

/** One header of an HTTP request. */
struct kanal_http_header {
    const char *name;
    const char *value;
};

/**
 * A webhook request routed to a source's plugin.  Owned by the host; valid
 * until the plugin answers it with http_respond(), which it must do exactly
 * once, now or later (after an emit completes).  Members are read-only.
 */
struct kanal_http_request {
    const char *method;      /**< "GET", "POST", ... */
    const char *path;        /**< decoded path, e.g. "/hooks/wa-main" */
    const char *query;       /**< raw query string without '?', or "" */
    const char *remote_addr; /**< peer address as text */
    const struct kanal_http_header *headers;
    size_t nheaders;
    const char *body; /**< raw body bytes exactly as received (NUL-terminated) */
    size_t body_len;
};

/** Outcomes a plugin reports for one outbound message. */
enum kanal_send_outcome {
    KANAL_SEND_SENT = 1,      /**< the provider accepted it */
    KANAL_SEND_RETRY = 2,     /**< try again later (rate limit, 5xx, network) */
    KANAL_SEND_FAILED = 3,    /**< permanent failure; never retried */
};

/** One outbound message handed to a plugin's send(). Read-only. */
struct kanal_send_request {
    const char *id;              /**< kanal's message id */
    const char *to;              /**< handle or channel address */
    const char *text;            /**< may be NULL for template messages */
    const char *reply_to;        /**< external id answered, or NULL */
    const char *campaign;        /**< or NULL */
    const char *template_json;   /**< channel-specific template (JSON text), or NULL */
    const char *idempotency_key; /**< pass to providers that accept one */
    unsigned attempt;            /**< 1 for the first try */
    /**
     * ABI 1.1: the recipient's unsubscribe URL (<[kanald] public_url>/u/TOKEN;
     * GET shows a confirmation page, POST — also RFC 8058's one-click —
     * records the opt-out), or NULL.  Set when the message has a campaign
     * and public_url is set.  This struct has no size field: read this
     * member only when host->abi_minor >= 1; a 1.0 host's struct ends
     * before it.  Marketing e-mail puts it in List-Unsubscribe.
     */
    const char *unsubscribe_url;
};

/** The outcome of one send, given to host->send_done(). */
struct kanal_send_result {
    enum kanal_send_outcome outcome;
    const char *provider_id;  /**< SENT: the provider's id for the message */
    const char *record_json;  /**< SENT: the outbound record (without seq), or NULL */
    int64_t retry_after_ms;   /**< RETRY: the provider's hint, or -1 for backoff */
    const char *reason;       /**< RETRY/FAILED: why, for the operator */
};

/**
 * The host API table handed to init().  Keep the pointer in your state.
 * Every function is safe to call only on the loop thread.
 */
struct kanal_host {
    uint16_t abi_major; /**< KANAL_ABI_MAJOR of the host */
    uint16_t abi_minor; /**< KANAL_ABI_MINOR of the host */
    uint32_t size;      /**< sizeof(struct kanal_host) in the host */

    /** Log a line, prefixed with the level and the source's name. */
    void (*log)(struct kanal_source *src, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

    /** Name a kanal or errno error code (any negative value). */
    const char *(*strerror)(int err);

    /** The source's name (its config section). */
    const char *(*source_name)(struct kanal_source *src);

    /**
     * The option's value as text, secrets resolved, default applied.
     * @return the value (owned by the host, valid until the source stops),
     *         or NULL when unset without default
     */
    const char *(*config_string)(struct kanal_source *src, const char *name);

    /**
     * A numeric option: INT as is, BOOL as 0/1, DURATION in milliseconds,
     * SIZE in bytes.
     * @return 0, -ENOENT when unset without default, -EINVAL for a non-numeric type
     */
    int (*config_int)(struct kanal_source *src, const char *name, int64_t *out);

    /**
     * Hand records to the store.  json is one record object or an array of
     * them (UTF-8 JSON text, schema v1 without seq, id and received_at); all
     * are committed in one transaction together with the state entries.
     * Records are validated first: on any invalid record nothing is queued
     * and KANAL_ERECORD is returned (the log names the field); cb is not called.
     * Invalid includes what the store could not keep: JSON nested deeper
     * than KANAL_MAX_DEPTH (kanal/schema.h), a NUL in a string, a record
     * too large for a store value.
     * @param states  cursor entries to commit with the records, or NULL
     * Records a processor drops (ABI 1.1) are not stored; their seq is 0.
     * Only sources emit: for a processor or sink, -EPERM.
     * @param cb      called after the commit (may be NULL)
     * @return 0 when queued (cb will be called), or a negative error
     */
    int (*emit)(struct kanal_source *src, const char *json, size_t len,
                const struct kanal_state_entry *states, size_t nstates, kanal_emit_cb cb,
                void *arg);

    /**
     * Read a committed state entry.
     * @param buf,len on entry the buffer and its size; on success *len is the
     *                value's size (if larger than the buffer, -ENOBUFS and
     *                *len says how much is needed)
     * @return 0, -ENOENT, -ENOBUFS
     */
    int (*state_get)(struct kanal_source *src, const char *key, void *buf, size_t *len);

    /** Start a timer: first after timeout_ms, then every repeat_ms (0: once). */
    int (*timer_start)(struct kanal_source *src, uint64_t timeout_ms, uint64_t repeat_ms,
                       kanal_timer_cb cb, void *arg, struct kanal_timer **out);
    /** Stop and free a timer (safe from within its own callback). */
    void (*timer_stop)(struct kanal_timer *t);

    /** Watch a file descriptor for KANAL_WATCH_READ / KANAL_WATCH_WRITE. */
    int (*watch_fd)(struct kanal_source *src, int fd, int events, kanal_watch_cb cb, void *arg,
                    struct kanal_watch **out);
    /** Stop watching and free the watch (the fd stays open). */
    void (*unwatch_fd)(struct kanal_watch *w);

    /**
     * Run a configured libcurl easy handle (CURL *) on the host's multi
     * handle; cb is called on the loop thread when it ends.  The plugin keeps
     * owning the handle and cleans it up after cb.  Set CURLOPT_TIMEOUT_MS.
     * @return 0, or -ENOSYS when the host has no transfer support
     */
    int (*transfer)(struct kanal_source *src, void *easy, kanal_transfer_cb cb, void *arg);

    /** Find a request header by name (case-insensitive); NULL when absent. */
    const char *(*http_header)(const struct kanal_http_request *req, const char *name);

    /** Add a response header before http_respond() (e.g. Location). */
    int (*http_add_header)(struct kanal_http_request *req, const char *name, const char *value);

    /**
     * Answer a request; call exactly once.  The request is freed by the host
     * afterwards.  Safe after the client went away (the answer is dropped).
     */
    int (*http_respond)(struct kanal_http_request *req, int status, const char *content_type,
                        const void *body, size_t len);

    /** Report the outcome of a send() (exactly once per call of send). */
    int (*send_done)(struct kanal_source *src, const struct kanal_send_request *msg,
                     const struct kanal_send_result *result);

    /** Mark the source healthy (ok = 1) or not, with a reason for operators. */
    void (*set_health)(struct kanal_source *src, int ok, const char *reason);

    /** HMAC-SHA256 of data with key into out[32]. */
    int (*hmac_sha256)(const void *key, size_t key_len, const void *data, size_t len,
                       unsigned char out[32]);
    /** HMAC-SHA1 of data with key into out[20]. */
    int (*hmac_sha1)(const void *key, size_t key_len, const void *data, size_t len,
                     unsigned char out[20]);
    /** Compare in constant time; 1 when equal (lengths must match). */
    int (*equal_ct)(const void *a, const void *b, size_t len);

    /** Lower-case hex of in; out must hold 2*len + 1 bytes. */
    int (*hex_encode)(const void *in, size_t len, char *out);
    /** Standard base64 with padding; out must hold 4*((len+2)/3) + 1 bytes. */
    int (*base64_encode)(const void *in, size_t len, char *out);
    /** Decode base64; *out_len is the buffer size on entry, the length on exit. */
    int (*base64_decode)(const char *in, size_t len, void *out, size_t *out_len);

    /** Decode application/x-www-form-urlencoded text; cb once per pair, in order. */
    int (*form_decode)(const char *in, size_t len, kanal_form_cb cb, void *arg);

    /**
     * Normalize a handle "scheme:value" (email lower-cased, phone to E.164
     * with the source's default_country, ...).
     * @return 0, -ENOBUFS, or KANAL_EHANDLE
     */
    int (*normalize_handle)(struct kanal_source *src, const char *in, char *out, size_t out_len);

    /** Format unix milliseconds as RFC 3339 UTC with milliseconds; out >= 25 bytes. */
    int (*format_time)(int64_t unix_ms, char *out, size_t out_len);
    /** The current wall-clock time in unix milliseconds. */
    int64_t (*now_ms)(void);

    /* ---- ABI 1.1: sinks (read only when abi_minor >= 1) ---- */

    /**
     * A sink acknowledges every record up to and including seq: the host
     * moves the sink's cursor there (committed to the store in the
     * background) and never delivers them again after a restart.  Acks may
     * come late and out of order; an ack at or below the cursor is ignored.
     * @return 0, or -EINVAL when seq was never delivered to this sink
     */
    int (*sink_ack)(struct kanal_source *sink, uint64_t seq);
    /**
     * A delivery failed: the host delivers again from the first record not
     * acknowledged, after retry_after_ms (or its own backoff when -1), and
     * shows reason as the sink's last error.  Records are never skipped.
     */
    int (*sink_fail)(struct kanal_source *sink, int64_t retry_after_ms, const char *reason);

    /* ---- ABI 1.2: roles and relaying (read only when abi_minor >= 2, or
     * with KANAL_HOST_HAS) ---- */

    /**
     * Which section an instance serves: KANAL_ROLE_SOURCE, _PROCESSOR or
     * _SINK.  A plugin serving several roles asks in init().
     */
    int (*role)(struct kanal_source *src);

    /**
     * Store records that another kanald normalized and stored (schema v1 as
     * stored: with seq, id, received_at).  json is one such record or an
     * array of them; all are committed in one transaction with the state
     * entries, in the order given, like emit().  Each record must pass the
     * check of stored records and its id must be <source>/<kind>/
     * <external_id>; it is stored keeping its id, source, channel, times,
     * meta, raw and annotations.  Its seq is replaced by this store's own,
     * its contact dropped and resolved here as for any record; processors do
     * not run again.  Records of kanald's own source "kanal" (merges,
     * consent, erasure) are refused: each node makes its own.  A record
     * whose id is already stored is not stored again (its existing seq is
     * given to cb), so a redelivered message is stored once.  json may
     * instead be a state command of a cluster's core nodes (an object with
     * a "command" member, alone or as an array's only element,
     * docs/cluster.md): kanald applies it in the same transaction as the
     * route it stands for would, and calls cb with no seqs; a command it
     * refuses is KANAL_ERECORD like a refused record.
     * @return 0 when queued (cb will be called); KANAL_ERECORD when any
     *         record is refused (nothing queued, the log says why); -EPERM
     *         unless this is a source of a plugin flagged KANAL_PLUGIN_RELAY
     */
    int (*relay)(struct kanal_source *src, const char *json, size_t len,
                 const struct kanal_state_entry *states, size_t nstates, kanal_emit_cb cb,
                 void *arg);

    /**
     * How far the source is behind what it reads (e.g. messages of a stream
     * not yet consumed), or -1 when unknown: shown as lag_records in
     * /v1/sources and as kanal_source_lag_records in /metrics.
     */
    void (*set_lag)(struct kanal_source *src, int64_t records);
};

/** What host->role() answers (ABI 1.2). */
#define KANAL_ROLE_SOURCE 1
#define KANAL_ROLE_PROCESSOR 2
#define KANAL_ROLE_SINK 3

/** Bits of struct kanal_plugin's flags (ABI 1.2). */
#define KANAL_PLUGIN_RELAY 0x1u /**< its sources may call host->relay() */

/** What a processor tells the host about one record (ABI 1.1). */
enum kanal_process_verdict {
    KANAL_PROCESS_PASS = 0, /**< keep the record (with the annotation, if any) */
    KANAL_PROCESS_DROP = 1, /**< do not store the record */
};

/** A processor's answer for one record, filled by process(). */
struct kanal_process_result {
    enum kanal_process_verdict verdict;
    /**
     * JSON text stored as annotations.<processor name>, or NULL for none.
     * Owned by the plugin; read by the host before the next call of any
     * callback of this processor (a buffer in the state is fine).
     */
    const char *annotation;
    size_t annotation_len;
};

/** Records handed to a sink's deliver(), in seq order (ABI 1.1). */
struct kanal_sink_batch {
    const char *json;   /**< a JSON array of stored records (schema v1, with seq) */
    size_t len;         /**< bytes of json */
    size_t count;       /**< records in the array */
    uint64_t first_seq; /**< seq of the first record */
    uint64_t last_seq;  /**< seq of the last one: ack it when all are delivered */
};

/** A plugin's descriptor, returned by kanal_plugin_entry(). */
struct kanal_plugin {
    uint16_t abi_major; /**< KANAL_ABI_MAJOR the plugin was built against */
    uint16_t abi_minor; /**< KANAL_ABI_MINOR the plugin was built against */
    uint32_t size;      /**< sizeof(struct kanal_plugin) */

    const char *name;        /**< the plugin name that sections use in plugin = */
    const char *version;     /**< the plugin's own version */
    const char *description; /**< one line */
    const struct kanal_option *options; /**< ends with a NULL name; may be NULL */

    /**
     * Create the state for one source.  Read options here; do not start I/O.
     * @return 0 with *state set, or a negative error (the source is refused)
     */
    int (*init)(const struct kanal_host *host, struct kanal_source *src, void **state);
    /** Start timers, watches and listeners. */
    int (*start)(void *state);
    /** Stop producing: cancel timers and watches.  Pending emits still complete. */
    int (*stop)(void *state);
    /** Free the state; called after every pending emit and request completed. */
    void (*destroy)(void *state);

    /** Optional: handle a request to /hooks/<source>; answer with http_respond(). */
    int (*http)(void *state, struct kanal_http_request *req);
    /** Optional: send one outbound message; report with send_done(). */
    int (*send)(void *state, const struct kanal_send_request *msg);
    /** Optional: the source's options changed in a way that needs no restart. */
    int (*reload)(void *state);

    /* ---- ABI 1.1: pipeline stages.  A plugin serves [processor NAME]
     * sections when it has process, [sink NAME] sections when it has
     * deliver, and [source NAME] sections in any case. ---- */

    /**
     * Processor: look at one normalized record (JSON text, without seq and
     * with the annotations of the processors before this one) before it is
     * committed, and fill out.  Runs on the loop thread within the
     * processor's budget; a negative return, invalid annotation JSON or an
     * overrun keeps the record without this annotation and counts a failure.
     */
    int (*process)(void *state, const char *record_json, size_t len,
                   struct kanal_process_result *out);
    /**
     * Sink: deliver committed records.  The json stays valid only during
     * the call: copy what you need.  Report the outcome later (or now) with
     * host->sink_ack(src, batch->last_seq) or host->sink_fail().  A negative
     * return counts as sink_fail with the host's backoff.
     */
    int (*deliver)(void *state, const struct kanal_sink_batch *batch);

    /* ---- ABI 1.2 ---- */

    /** KANAL_PLUGIN_* bits; 0 for none.  A descriptor smaller than 1.2's has none. */
    uint32_t flags;
};

/** Fill the three version fields of a struct kanal_plugin. */
#define KANAL_PLUGIN_HEADER                                                                    \
    .abi_major = KANAL_ABI_MAJOR, .abi_minor = KANAL_ABI_MINOR, .size = sizeof(struct kanal_plugin)

/**
 * True when the host's table contains member: the minor-version rule made
 * checkable.  A member appended after 1.0 may be called only when the
 * host's table (host->size bytes) is large enough to hold it, e.g.
 * if (KANAL_HOST_HAS(host, some_new_fn)) host->some_new_fn(...);
 */
#define KANAL_HOST_HAS(host, member)                                                           \
    ((host)->size >= offsetof(struct kanal_host, member) + sizeof((host)->member))

/** The one symbol a plugin exports: define it with KANAL_PLUGIN_EXPORT. */
KANAL_PLUGIN_EXPORT const struct kanal_plugin *kanal_plugin_entry(void);
typedef const struct kanal_plugin *(*kanal_plugin_entry_fn)(void);
#define KANAL_PLUGIN_ENTRY_SYMBOL "kanal_plugin_entry"

#ifdef __cplusplus
}
#endif

#endif /* KANAL_PLUGIN_H */
