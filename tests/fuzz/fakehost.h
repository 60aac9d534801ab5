/* SPDX-License-Identifier: Apache-2.0 */
/* A kanal_host for fuzzing one plugin in-process (fakehost.c).
 *
 * emit() runs what kanald runs on the loop thread: jsonin, record_normalize
 * on every record, jsonout_dump of each stored form; a record normalize
 * accepts that jsonout refuses is a finding (the writer could not store
 * it).  Callbacks (emit completions, transfer ends) are queued and run by
 * fake_drain() in the order they were queued, as the loop would run them
 * later.  Every request must be answered exactly once, with a status from
 * 100 to 599, by the time everything queued has run. */
#ifndef KANAL_FUZZ_FAKEHOST_H
#define KANAL_FUZZ_FAKEHOST_H

#include <stddef.h>
#include <stdint.h>

#include <kanal/plugin.h>

/* The source's config: "name", "value" pairs ending with NULL; options not
 * given get the plugin's (or kanald's common) defaults. */
struct kanal_source *fake_source_new(const struct kanal_plugin *p, const char *const *config);
/* init and start the plugin; 0 or its error. */
int fake_source_start(struct kanal_source *src);
/* init only (no start: no listeners, no timers). */
int fake_source_init(struct kanal_source *src);
/* stop and destroy it (after draining), then free the source. */
void fake_source_free(struct kanal_source *src);
void *fake_source_state(struct kanal_source *src);

/* How queued callbacks end: emits commit (0) or fail (KANAL_ESTORE);
 * transfers fail to connect.  Taken from the input by the targets. */
void fake_set_store_fails(struct kanal_source *src, int fails);

/* Hand one request to the plugin's http() and run everything it queued;
 * returns the status it was answered with (the host's 500 when http()
 * failed).  The answer's body is kept until the next request. */
int fake_request(struct kanal_source *src, const char *method, const char *path, const char *query,
                 const struct kanal_http_header *headers, size_t nheaders, const char *body,
                 size_t body_len);
const char *fake_last_body(struct kanal_source *src, size_t *len);

/* Run queued callbacks until none is left. */
void fake_drain(struct kanal_source *src);

/* One turn of a loop over the plugin's fd watches: poll them (timeout_ms),
 * call the callbacks of those ready, then fake_drain.  Returns how many
 * callbacks ran. */
int fake_poll(struct kanal_source *src, int timeout_ms);
/* The fd of the first watch the plugin made (its listener), or -1. */
int fake_listener_fd(const struct kanal_source *src);

/* Transfers go to a local HTTP responder instead of failing: each answers
 * with status and body (copied) whatever it asked, its scheme, host and port
 * replaced by the responder's.  Call before the request that fetches. */
void fake_set_api_response(struct kanal_source *src, int status, const void *body, size_t len);

/* Records committed so far (emits that were queued and completed with 0). */
size_t fake_records(const struct kanal_source *src);

/* Lower-case hex HMAC-SHA256 of data with key into out[65]. */
void fake_hmac256_hex(const char *key, const void *data, size_t len, char out[65]);

extern const struct kanal_host fake_host;

#endif
