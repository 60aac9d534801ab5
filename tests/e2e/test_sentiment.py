# SPDX-License-Identifier: Apache-2.0
"""The sentiment processor in the real kanald: webhook records get
annotations.sentiment (label, score, lang, model, complaint); GET
/v1/interactions filters on it (sentiment=, complaint=), and so does
kanalctl tail --sentiment."""
import json
import subprocess
from pathlib import Path

from kanal import BUILD, message, webhook_source

DATA = Path(__file__).resolve().parents[2] / "plugins" / "sentiment" / "data"
# The budget is wall-clock time per record (5 ms by default): on a shared
# machine under ASan one stall can pass it, and the record is then kept
# without its annotation. These tests are about what is read, so they give
# the processor room; test_processors.py tests the budget itself.
SENTIMENT = f"[processor sentiment]\nplugin = sentiment\ndata = {DATA}\nbudget = 10s\n"

# (text, label, lang, complaint): Turkish and English, praise, complaints,
# questions, and a language the processor does not read.
CASES = [
    ("Siparişim 10 gündür hâlâ gelmedi, kimse cevap vermiyor!!!", "negative", "tr", True),
    ("Ürün kırık geldi, iade etmek istiyorum.", "negative", "tr", True),
    ("Kargo çok hızlıydı, ürünü çok beğendim, teşekkürler 😊", "positive", "tr", False),
    ("İADE sürecim çok kolay oldu, teşekkürler", "positive", "tr", False),
    ("Mağazanızın cumartesi çalışma saatlerini öğrenebilir miyim?", "neutral", "tr", False),
    ("The package never arrived and nobody answers, I want a refund.", "negative", "en", True),
    ("Great service, the support team was really helpful. Thank you!", "positive", "en", False),
    ("Das Paket ist heute angekommen und alles ist in Ordnung, danke schön.", "neutral", "de",
     False),
    # Asking when, still waiting: a complaint; a matter of taste: criticism,
    # no complaint; English idioms and short reviews told from their
    # function words, read by VADER's rules.
    ("Siparişim hâlâ hazırlanıyor, ne zaman gelecek?", "negative", "tr", True),
    ("Yeni logo hiç güzel olmamış", "negative", "tr", False),
    ("Don't waste your money, it broke after two days.", "negative", "en", True),
    ("I couldn't be happier with it.", "positive", "en", False),
    ("Works great!", "positive", "en", False),
    # Words VADER lacks: AFINN-165's (exquisite), a derivation (unhelpful),
    # an elongated word, an emoticon; and a negated text without a polar
    # word, which leans negative.
    ("The dessert was exquisite and the view from the terrace too.", "positive", "en", False),
    ("The staff at the front desk were unhelpful.", "negative", "en", True),
    ("The pizza was goooood and we will be back :)", "positive", "en", False),
    ("The app logs me out every time :(", "negative", "en", True),
    ("I won't be back to this place.", "negative", "en", False),
]


def start(make_kanald):
    return make_kanald(sources=webhook_source() + "\n" + SENTIMENT,
                       plugins=("webhook", "sentiment")).start()


def test_webhook_records_are_annotated(make_kanald):
    k = start(make_kanald)
    for i, (text, *_rest) in enumerate(CASES):
        status, _, body = k.post_hook(message(f"s{i}", text=text))
        assert status == 200, body
    status, _, body = k.post_hook(message("notext", text=""))
    assert status == 200, body
    recs = {r["external_id"]: r for r in k.feed()}
    for i, (text, label, lang, complaint) in enumerate(CASES):
        ann = recs[f"s{i}"]["annotations"]["sentiment"]
        assert set(ann) == {"label", "score", "lang", "model", "complaint"}, ann
        assert (ann["label"], ann["lang"], ann["complaint"]) == (label, lang, complaint), (text, ann)
        assert -1 <= ann["score"] <= 1
        assert (ann["score"] < 0) == (label == "negative"), ann
        assert ann["model"] == "kanal-lexicon-1.1"
    # A record without text gets no annotation, and is stored all the same.
    assert "sentiment" not in recs["notext"].get("annotations", {})


def test_feed_filters_on_sentiment_and_complaint(make_kanald):
    k = start(make_kanald)
    for i, (text, *_rest) in enumerate(CASES):
        status, _, body = k.post_hook(message(f"s{i}", text=text))
        assert status == 200, body
    def ids(**q):
        return sorted(r["external_id"] for r in k.feed(**q))
    want = lambda f: sorted(f"s{i}" for i, c in enumerate(CASES) if f(c))
    assert ids(sentiment="negative") == want(lambda c: c[1] == "negative")
    assert ids(sentiment="positive") == want(lambda c: c[1] == "positive")
    assert ids(sentiment="neutral") == want(lambda c: c[1] == "neutral")
    assert ids(sentiment="negative", complaint="true") == want(lambda c: c[1] == "negative" and c[3])
    assert ids(complaint="false") == want(lambda c: not c[3])
    for bad in ("sentiment=angry", "complaint=yes"):
        status, body = k.api(f"/v1/interactions?{bad}")
        assert status == 400, body


def test_kanalctl_tail_filters_on_sentiment(make_kanald):
    k = start(make_kanald)
    for i, (text, *_rest) in enumerate(CASES):
        status, _, body = k.post_hook(message(f"s{i}", text=text))
        assert status == 200, body
    want = sorted(f"s{i}" for i, c in enumerate(CASES) if c[1] == "negative")
    assert sorted(r["external_id"] for r in k.feed(sentiment="negative")) == want
    p = subprocess.run([str(BUILD / "kanalctl"), "-s", str(k.store), "tail", "--after", "0",
                        "--sentiment", "negative"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    got = sorted(json.loads(line)["external_id"] for line in p.stdout.splitlines())
    assert got == want
    p = subprocess.run([str(BUILD / "kanalctl"), "-s", str(k.store), "tail", "--sentiment", "sad"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--sentiment" in p.stderr


def test_missing_data_refuses_the_processor_and_loses_nothing(make_kanald):
    """Without its data the processor is refused with a log line naming
    the file; kanald runs on and stores records unannotated."""
    k = make_kanald(sources=webhook_source() + "\n[processor sentiment]\nplugin = sentiment\n"
                    "data = /nonexistent/sentiment\n", plugins=("webhook", "sentiment")).start()
    k.wait_log(r"\[sentiment\] cannot load the sentiment data: /nonexistent/sentiment/\S+: "
               r"No such file")
    status, _, body = k.post_hook(message("m1", text="Ürün kırık geldi"))
    assert status == 200, body
    [rec] = k.feed()
    assert "sentiment" not in rec.get("annotations", {})


def test_max_text_bounds_what_is_read(make_kanald):
    """Only the first max_text bytes are read: a complaint past them is not
    seen (the record is stored whole); past 4K the key is refused."""
    tail = "Ürün kırık geldi, rezalet, iade istiyorum!!!"
    text = "Merhaba, sipariş numaram 48213. " * 4 + tail
    assert len(text.encode()) > 128
    k = make_kanald(sources=webhook_source() + "\n" + SENTIMENT + "max_text = 64\n",
                    plugins=("webhook", "sentiment")).start()
    status, _, body = k.post_hook(message("long", text=text))
    assert status == 200, body
    status, _, body = k.post_hook(message("short", text=tail))
    assert status == 200, body
    recs = {r["external_id"]: r for r in k.feed()}
    assert recs["long"]["text"] == text
    assert recs["long"]["annotations"]["sentiment"]["label"] == "neutral"
    assert recs["short"]["annotations"]["sentiment"]["label"] == "negative"
    k.stop()
    k2 = make_kanald(sub="k2", sources=webhook_source() + "\n" + SENTIMENT + "max_text = 5K\n",
                     plugins=("webhook", "sentiment")).start()
    k2.wait_log(r"\[sentiment\] max_text = 5120: at most 4096 bytes")


def test_texts_read_without_parsing_the_record_and_past_its_buffer(make_kanald):
    """The processor reads `text` straight from the record's JSON (escapes
    undone) and a text longer than that reader's 64 KiB buffer through the
    parser: both are read the same way."""
    k = start(make_kanald)
    complaint = "Ürün kırık geldi, rezalet, iade istiyorum!!! "
    cases = {
        "escaped": 'Sipariş "hâlâ" gelmedi,\nkimse cevap vermiyor!!!\t\\ 😡',
        "long": complaint + "x" * (70 * 1024),
        "short": complaint,
    }
    for xid, text in cases.items():
        status, _, body = k.post_hook(message(xid, text=text))
        assert status == 200, body
    recs = {r["external_id"]: r for r in k.feed()}
    for xid, text in cases.items():
        assert recs[xid]["text"] == text
        ann = recs[xid]["annotations"]["sentiment"]
        assert (ann["label"], ann["lang"], ann["complaint"]) == ("negative", "tr", True), (xid, ann)
    assert recs["long"]["annotations"] == recs["short"]["annotations"]
