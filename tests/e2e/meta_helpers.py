# SPDX-License-Identifier: Apache-2.0
"""What the facebook and whatsapp tests share: the Meta app's test secrets,
source sections, signed posts of the fixtures in fixtures/meta/, a fake
Graph API's request parsed, and a field-by-field record check."""
import hashlib
import hmac
import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from kanal import wait_message, WRITE_TOKEN, validate_record

FIXTURES = Path(__file__).parent / "fixtures" / "meta"
APP_SECRET = "test-meta-app-secret"
VERIFY_TOKEN = "kanal-verify-7f3a"
GRAPH_VERSION = "v26.0"  # the plugins' default api_version

T0 = 1795424400  # 2026-11-23T09:00:00Z, the fixtures' clock (seconds)


def iso(unix_s):
    """RFC 3339 with milliseconds, as kanal stores times."""
    ms = int(round(unix_s * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def fixture(name) -> bytes:
    """A fixture's bytes exactly as Meta would send them."""
    return (FIXTURES / f"{name}.json").read_bytes()


def meta_sign(body: bytes, secret=APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_meta(k, source, body, signature=None):
    """POST a webhook body; signature None signs it, False leaves the header out."""
    if isinstance(body, str):
        body = fixture(body)
    elif not isinstance(body, bytes):
        body = json.dumps(body).encode()
    h = {"Content-Type": "application/json"}
    if signature is not False:
        h["X-Hub-Signature-256"] = signature or meta_sign(body)
    status, _, data = k.request("POST", f"/hooks/{source}", body, h)
    return status, (json.loads(data) if data else None)


def meta_source(name, plugin, extra=""):
    return (f"[source {name}]\nplugin = {plugin}\ninsecure_inline_secrets = yes\n"
            f"app_secret = {APP_SECRET}\nverify_token = {VERIFY_TOKEN}\n{extra}\n")


def handshake(k, source, **params):
    q = "&".join(f"{key}={value}" for key, value in params.items())
    status, _, body = k.request("GET", f"/hooks/{source}?{q}")
    return status, body


def check(rec, **expected):
    """rec follows the schema and has exactly the expected value in every
    field named (field names with a trailing _ for Python keywords)."""
    validate_record(rec)
    for key, want in expected.items():
        field = key.rstrip("_")
        assert field in rec or want is None, f"{rec['id']}: no field {field!r}"
        assert rec.get(field) == want, f"{rec['id']}: {field} is {rec.get(field)!r}, want {want!r}"


def party(handle, role="customer", name=None, handles=None, trust=None):
    p = {"handle": handle, "role": role, "handles": handles or [handle]}
    if name is not None:
        p["name"] = name
    if trust is not None:  # stored only as "verified" (docs/identity.md)
        p["trust"] = trust
    return p


def graph_call(req):
    """(path, query dict with single values, JSON body) of a fake Graph request."""
    u = urlsplit(req.path)
    query = {k: v[0] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
    return u.path, query, req.json()


def appsecret_proof(token, secret=APP_SECRET):
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def graph_error(code, message="error", subcode=None, status=400, headers=None):
    err = {"message": message, "type": "OAuthException", "code": code,
           "fbtrace_id": "AbCdEf123"}
    if subcode is not None:
        err["error_subcode"] = subcode
    return (status, headers or {}, {"error": err})


def queue(k, **msg):
    return k.api("/v1/messages", token=WRITE_TOKEN, method="POST", body=msg)




def source_state(k, name):
    status, body = k.api("/v1/sources")
    assert status == 200, body
    return {s["name"]: s for s in body["sources"]}[name]


def scrape_metric(k, name):
    status, _, body = k.request("GET", "/metrics")
    assert status == 200
    for line in body.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{}"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# Times Meta might send that kanal cannot store as they are: after the year
# 9999, zero or negative, beyond 64 bits, not a time at all.
UNREPRESENTABLE_TIMES = [
    253402300800000, "253402300800000", 300000000000000, "300000000000000",
    9223372036854775807, "99999999999999999999", 1e300, 2.6e14, 0, "0", -5, -1795424400,
    -1e20, "-5", "10000-01-01T00:00:00Z", "9999-12-31T23:30:00-0100", "soon", ""]


def parse_iso(text):
    return time.mktime(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
