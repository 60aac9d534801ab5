/* SPDX-License-Identifier: Apache-2.0 */
/* minimal: a complete channel plugin written with the kit (kanal/kit.h).
 * POST /hooks/<source> {"id":"..","from":"scheme:value","text":".."}
 * signed with X-Signature: sha256=<hex HMAC-SHA256(secret, body)>:
 *   valid -> 200 {"seqs":[..]} after the commit; wrong signature -> 401;
 *   authentic but not such an object -> stored as "unknown", 202.
 * Build: cc -shared -fPIC -o minimal.so minimal.c $(pkg-config --cflags --libs kanal-plugin) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <kanal/kit.h>

struct minimal {
    const struct kanal_host *host;
    struct kanal_source *src;
    const char *secret, *header;
};

static const struct kanal_kit_bind binds[] = {
    {"secret", KANAL_KIT_STR, offsetof(struct minimal, secret)},
    {"header", KANAL_KIT_STR, offsetof(struct minimal, header)},
    {NULL, 0, 0},
};

static int signed_ok(struct minimal *m, const struct kanal_http_request *req)
{
    const char *sig = m->host->http_header(req, m->header);
    unsigned char mac[32];
    char hex[65];
    m->host->hmac_sha256(m->secret, strlen(m->secret), req->body, req->body_len, mac);
    m->host->hex_encode(mac, sizeof mac, hex);
    return sig && strncmp(sig, "sha256=", 7) == 0 && strlen(sig + 7) == 64 &&
           m->host->equal_ct(sig + 7, hex, 64);
}

static int minimal_http(void *state, struct kanal_http_request *req)
{
    struct minimal *m = state;
    if (!signed_ok(m, req)) /* nothing stored, nothing logged that is secret */
        return kanal_kit_respond_error(m->host, req, 401, "bad_signature", "wrong signature");
    char id[200], from[320], text[4096];
    struct kanal_kit_buf rec = {0};
    if (kanal_kit_json_get_string(req->body, req->body_len, "id", id, sizeof id) == 0 &&
        kanal_kit_json_get_string(req->body, req->body_len, "from", from, sizeof from) == 0 &&
        kanal_kit_json_get_string(req->body, req->body_len, "text", text, sizeof text) == 0) {
        kanal_kit_buf_printf(&rec,
                             "{\"kind\":\"message\",\"direction\":\"inbound\",\"external_id\":");
        kanal_kit_buf_json_string(&rec, id, strlen(id));
        kanal_kit_buf_printf(&rec, ",\"from\":{\"handle\":");
        kanal_kit_buf_json_string(&rec, from, strlen(from));
        kanal_kit_buf_printf(&rec, "},\"text\":");
        kanal_kit_buf_json_string(&rec, text, strlen(text));
        kanal_kit_buf_printf(&rec, "}");
    }
    /* No record (or one kanald refuses): the body is kept as unknown, 202. */
    const struct kanal_kit_unknown unknown = {.id_prefix = "minimal", .reason = "not a message"};
    const struct kanal_kit_answer answer = {.unknown = &unknown, .unknown_status = 202};
    kanal_kit_emit_answer(m->host, m->src, req, rec.data, rec.len, NULL, 0, &answer);
    kanal_kit_buf_free(&rec);
    return 0; /* answered, now or after the commit */
}

static int minimal_init(const struct kanal_host *host, struct kanal_source *src, void **state)
{
    struct minimal *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    *m = (struct minimal){.host = host, .src = src};
    int r = kanal_kit_bind_options(host, src, binds, m);
    if (r < 0)
        free(m);
    else
        *state = m;
    return r;
}

static int noop(void *state)
{
    return 0;
}
static void minimal_destroy(void *state)
{
    free(state);
}

static const struct kanal_option options[] = {
    {"secret", KANAL_OPT_SECRET, NULL, 1, "HMAC-SHA256 key of the signature", NULL},
    {"header", KANAL_OPT_STRING, "X-Signature", 0, "header carrying sha256=<hex>", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static const struct kanal_plugin plugin = {
    KANAL_PLUGIN_HEADER,
    .name = "minimal",
    .version = "1.0",
    .description = "a signed JSON webhook, written with the plugin kit",
    .options = options,
    .init = minimal_init,
    .start = noop,
    .stop = noop,
    .destroy = minimal_destroy,
    .http = minimal_http,
};

KANAL_PLUGIN_EXPORT const struct kanal_plugin *kanal_plugin_entry(void)
{
    return &plugin;
}
