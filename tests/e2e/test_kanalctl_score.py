# SPDX-License-Identifier: Apache-2.0
"""kanalctl score on stores written by the real kanald: an audience built so
that its answer is known (one customer at the centre of the others'
replies, one with a huge follower count whom no one answers), printed as a
table, JSON and CSV, drawn as SVG; the scores kanald keeps read as they
are; and the errors a user meets (unknown audience, bad id, missing store,
newer format)."""
import csv
import io
import json
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

from kanal import ADMIN_TOKEN, BUILD, message
from test_kanalctl import KANALCTL, ctl, ok, open_env

SVG = "{http://www.w3.org/2000/svg}"
HUB = "email:hub@example.com"
FAMOUS = "email:famous@example.com"
HUB_NAME = "Yılmaz, Ayşe"  # a comma and non-ASCII: CSV quotes it, the table pads it right
REPLIERS = [f"email:u{i}@example.com" for i in range(1, 7)]


def at(minute):
    return f"2026-11-23T10:{minute:02d}:00.000Z"


@pytest.fixture
def star(make_kanald):
    """kanald holding a star: six customers reply to the hub's two posts,
    two of them answer each other, the hub answers one, the brand answers
    the hub; a famous customer (5M followers in meta) writes to the brand
    and is answered by no one.  Returns (kanald, {handle: contact id})."""
    k = make_kanald().start()
    recs = [message("p1", handle=HUB, kind="comment", occurred_at=at(0)),
            message("p2", handle=HUB, kind="comment", occurred_at=at(1))]
    for i, h in enumerate(REPLIERS):
        recs.append(message(f"r{i + 1}", handle=h, kind="comment", reply_to=f"p{i % 2 + 1}",
                            occurred_at=at(2 + i)))
    recs += [message("r7", handle=REPLIERS[0], kind="comment", reply_to="r2", occurred_at=at(10)),
             message("r8", handle=REPLIERS[1], kind="comment", reply_to="r1", occurred_at=at(11)),
             message("r9", handle=HUB, kind="comment", reply_to="r3", occurred_at=at(12)),
             message("b1", kind="comment", direction="outbound", handle="email:brand@shop.example",
                     reply_to="p1", occurred_at=at(13)),
             message("f1", handle=FAMOUS, occurred_at=at(14),
                     to=[{"handle": "email:destek@shop.example", "role": "brand"}],
                     meta={"followers": 5000000})]
    for rec in recs:
        status, _, body = k.post_hook(rec)
        assert status == 200, body
    rows = json.dumps({"crm_id": "C-1", "emails": ["hub@example.com"], "name": HUB_NAME})
    status, _, raw = k.request("POST", "/v1/contacts/import", rows.encode(),
                               {"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert status == 200, raw
    ids = {r["from"]["handle"]: r["contact"] for r in k.feed()
           if r.get("contact") and r["direction"] == "inbound"}
    assert set(ids) == {HUB, FAMOUS, *REPLIERS}
    return k, ids


def score_json(store, *args):
    return json.loads(ok(store, "score", "--audience", "all", "--format", "json", *args))


def check_known_answer(store, ids):
    doc = score_json(store, "--top", "0")
    assert doc["audience"] == "all" and doc["kept"] is False
    rows = doc["contacts"]
    assert [r["contact"] for r in rows][0] == ids[HUB]
    assert {r["contact"] for r in rows} == set(ids.values())
    hub = rows[0]
    assert hub["name"] == HUB_NAME
    # Six members answered the hub; the brand did too but is not a member's reach.
    assert (hub["reach"], hub["in_degree"], hub["out_degree"]) == (6, 7, 1)
    famous = next(r for r in rows if r["contact"] == ids[FAMOUS])
    assert famous["handle"] == FAMOUS and famous["in_degree"] == 0
    # Local beats global: the follower count does not lift the famous one.
    assert famous["influence"] < min(r["influence"] for r in rows
                                     if r["contact"] in {ids[h] for h in REPLIERS[:2]})
    assert doc["shape"]["nodes"] == len(ids) + 1  # and the brand
    return doc


def test_json_table_and_csv_rank_the_centre_first(star):
    k, ids = star

    def check():
        check_known_answer(k.store, ids)
        # Without decay every run weighs alike, so that near ties (u1 and u2
        # answer each other) fall the same way in every format: by id.
        nodecay = ("--half-life", "0")
        doc = score_json(k.store, "--top", "0", *nodecay)
        top3 = [r["contact"] for r in doc["contacts"][:3]]
        assert top3[0] == ids[HUB]
        assert [r["contact"] for r in score_json(k.store, "--top", "3", *nodecay)["contacts"]] \
            == top3

        table = ok(k.store, "score", "--audience", "all", "--top", "3", *nodecay).split("\n")
        assert table[0].startswith("audience all  seq ") and "(computed by kanalctl)" in table[0]
        assert table[1].startswith(f"{len(ids) + 1} nodes, ")
        head = table[3].split()
        assert head[:3] == ["rank", "contact", "name"]
        lines = [line for line in table[4:] if line]
        assert len(lines) == 3
        assert lines[0].split()[:2] == ["1", ids[HUB]] and HUB_NAME in lines[0]
        assert [line.split()[1] for line in lines] == top3
        # The name column is padded by characters, not bytes: columns line up.
        assert all(len(line) == len(lines[0]) for line in lines)

        out = ok(k.store, "score", "--audience", "all", "--format", "csv", "--top", "0", *nodecay)
        assert out.endswith("\r\n")
        rows = list(csv.DictReader(io.StringIO(out, newline="")))
        assert [r["contact"] for r in rows] == [r["contact"] for r in doc["contacts"]]
        assert rows[0]["name"] == HUB_NAME and rows[0]["rank"] == "1"
        assert (rows[0]["reach"], rows[0]["in_degree"], rows[0]["out_degree"]) == ("6", "7", "1")
        assert float(rows[0]["influence"]) == pytest.approx(doc["contacts"][0]["influence"])
        # Value, advocacy, risk and position as kanald scores them, each
        # row's from its own document row.
        for r, d in zip(rows, doc["contacts"]):
            assert r["value"] == str(d["value"]["score"]) and r["position"] == d["position"]
            assert r["advocate"] == ("true" if d["advocacy"]["advocate"] else "false")
            assert r["at_risk"] == ("true" if d["risk"]["at_risk"] else "false")

    check()  # while kanald runs
    assert k.stop() == 0
    check()


def test_an_audience_is_a_slice(star, make_kanald):
    k, ids = star
    doc = json.loads(ok(k.store, "score", "--audience", "source:hooks", "--format", "json",
                        "--top", "0"))
    assert doc["contacts"][0]["contact"] == ids[HUB]
    # thread-less, campaign-less records: those audiences hold nothing.
    for aud in ("source:shop", "campaign:kasim", "event:42"):
        p = ctl(k.store, "score", "--audience", aud)
        assert p.returncode == 1 and p.stdout == ""
        assert f"kanalctl score: unknown audience '{aud}': no record" in p.stderr


def svg_nodes(path):
    root = ET.parse(path).getroot()
    assert root.tag == SVG + "svg"
    nodes = {}
    for g in root.iter(SVG + "g"):
        if g.get("class") == "node":
            title = g.find(SVG + "title").text
            nodes[title] = [t.text for t in g.iter(SVG + "text")]
    edges = [g for g in root.iter(SVG + "g") if g.get("class") == "edge"]
    return nodes, edges


def test_svg_draws_every_contact_and_names_the_top(star, tmp_path):
    k, ids = star
    # No decay: the near tie at third place falls the same way in both runs.
    doc = score_json(k.store, "--top", "0", "--half-life", "0")
    top = doc["contacts"][:3]
    out = tmp_path / "all.svg"
    p = ctl(k.store, "score", "--audience", "all", "--top", "3", "--svg", str(out),
            "--half-life", "0")
    assert p.returncode == 0 and p.stderr == ""  # no Graphviz chatter
    assert ids[HUB] in p.stdout  # the table is printed as well
    nodes, edges = svg_nodes(out)
    # One node per contact, and the brand.
    assert set(nodes) == set(ids.values()) | {"brand"}
    assert nodes["brand"] == ["brand"]
    for r in top:  # the top three by their names (the hub's from the CRM), or handles
        assert nodes[r["contact"]] == [r.get("name") or r["handle"]]
    assert nodes[ids[HUB]] == [HUB_NAME]
    for cid in set(ids.values()) - {r["contact"] for r in top}:
        assert nodes[cid] == [], cid  # the rest unlabelled
    assert len(edges) == doc["shape"]["edges"]

    # --svg-nodes keeps the most influential.
    ok(k.store, "score", "--audience", "all", "--top", "1", "--svg", str(out), "--svg-nodes", "2")
    nodes, _ = svg_nodes(out)
    assert set(nodes) == {"brand"} | {r["contact"] for r in doc["contacts"][:2]}

    p = ctl(k.store, "score", "--audience", "all", "--svg", str(tmp_path / "no" / "x.svg"))
    assert p.returncode == 1
    assert f"cannot write the picture to {tmp_path}/no/x.svg: No such file" in p.stderr


def keep(store, doc):
    """Put a scores document into the store's 'scores' database as kanald
    keeps it (kanald stopped): test_score_store's keep mode, score_put."""
    p = subprocess.run([str(BUILD / "tests" / "test_score_store"), "keep", str(store)],
                       input=json.dumps(doc), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def test_kept_scores_are_printed_as_kept(star, tmp_path):
    k, ids = star
    assert k.stop() == 0
    kept = score_json(k.store, "--top", "0")
    del kept["kept"]
    for r in kept["contacts"]:
        r.pop("name", None)
        r.pop("handle", None)
    # What the value/advocacy/risk scoring adds to each row; the famous one
    # first, so that the printout shows the kept order, not a computed one.
    kept["contacts"].sort(key=lambda r: r["contact"] != ids[FAMOUS])
    for i, r in enumerate(kept["contacts"]):
        r["value"] = {"score": 0.5 + i / 100, "r": 5, "f": 4, "m": 3, "events": 1, "clicks": 2}
        r["advocacy"] = {"score": 0.9 if i == 1 else 0.1, "advocate": i == 1}
        r["risk"] = {"score": 0.8 if i == 0 else 0.0, "at_risk": i == 0}
        r["position"] = "critic" if i == 0 else "key" if i == 1 else "ordinary"
    keep(k.store, kept)

    doc = score_json(k.store, "--top", "2")
    assert doc["kept"] is True and doc["seq"] == kept["seq"]
    assert [r["contact"] for r in doc["contacts"]] == [r["contact"] for r in kept["contacts"][:2]]
    assert doc["contacts"][0]["risk"]["at_risk"] is True

    lines = ok(k.store, "score", "--audience", "all", "--top", "2").split("\n")
    assert "(kept by kanald)" in lines[0]
    assert lines[3].split()[-6:] == ["value", "advocacy", "advocate", "risk", "at_risk", "position"]
    assert lines[4].split()[1] == ids[FAMOUS] and lines[4].split()[-3:] == ["0.800", "yes", "critic"]
    assert lines[5].split()[-4:] == ["yes", "0.000", "no", "key"]

    rows = list(csv.DictReader(io.StringIO(
        ok(k.store, "score", "--audience", "all", "--format", "csv"), newline="")))
    assert rows[0]["contact"] == ids[FAMOUS] and rows[0]["position"] == "critic"
    assert (rows[0]["at_risk"], rows[1]["advocate"], rows[1]["value_r"]) == ("true", "true", "5")

    # --compute ignores what is kept; the picture colours the kept flags.
    assert score_json(k.store, "--compute")["contacts"][0]["contact"] == ids[HUB]
    out = tmp_path / "kept.svg"
    ok(k.store, "score", "--audience", "all", "--svg", str(out))
    root = ET.parse(out).getroot()
    fill = {g.find(SVG + "title").text: [e.get("fill") for e in g.iter(SVG + "ellipse")]
            for g in root.iter(SVG + "g") if g.get("class") == "node"}
    assert fill.pop("brand") == []  # a box
    fill = {cid: f[0] for cid, f in fill.items()}
    assert fill[ids[FAMOUS]] == "#d64541"  # at risk: red
    assert fill[kept["contacts"][1]["contact"]] == "#2e9d4e"  # advocate: green
    assert fill[kept["contacts"][2]["contact"]] == "#9aa5b1"  # neither: grey

    # An [audience NAME] kanald keeps scores for is printed; one it does not is unknown.
    keep(k.store, dict(kept, audience="vip"))
    assert score_json(k.store)["audience"] == "all"
    assert json.loads(ok(k.store, "score", "--audience", "vip", "--format", "json"))["kept"]
    p = ctl(k.store, "score", "--audience", "vip2")
    assert p.returncode == 1 and "unknown audience 'vip2': kanald keeps no scores" in p.stderr


def test_errors_are_clear(star, tmp_path):
    k, _ = star
    p = ctl(k.store, "score")
    assert p.returncode == 2 and "--audience ID is required" in p.stderr
    p = ctl(k.store, "score", "--audience", "colour:blue")
    assert p.returncode == 2 and "'colour:blue' is not an audience id" in p.stderr
    p = ctl(k.store, "score", "--audience", "all", "--format", "xml")
    assert p.returncode == 2 and "--format is table, json or csv, not 'xml'" in p.stderr
    p = ctl(k.store, "score", "--audience", "all", "--half-life", "soon")
    assert p.returncode == 2 and "--half-life is a duration" in p.stderr
    missing = tmp_path / "nowhere"
    p = ctl(missing, "score", "--audience", "all")
    assert p.returncode == 2 and f"kanalctl: cannot open store {missing}" in p.stderr
    assert k.stop() == 0
    env = open_env(k.store)
    meta = env.open_db(b"meta")
    with env.begin(write=True) as txn:
        txn.put(b"version", b"2", db=meta)
    env.close()
    p = ctl(k.store, "score", "--audience", "all")
    assert p.returncode == 2 and p.stdout == ""
    assert f"kanalctl: cannot open store {k.store}: the store's format version is newer" \
        in p.stderr



def test_config_gives_kanalds_thresholds_and_named_audiences(star, tmp_path):
    """--config (or $KANAL_CONFIG): a computing makes the scores as kanald
    would with that file, its score_* keys and [audience NAME] sections;
    only [kanald] and [audience] are read, so a source's secret the user
    cannot read, or a plugin_dir without plugins, stop nothing; a bad value
    stops kanalctl with the file's line."""
    k, ids = star
    conf = tmp_path / "kanal.conf"
    conf.write_text("[kanald]\nscore_key_influence = 100000\nplugin_dir = /nonexistent\n"
                    "\n[source fb]\nplugin = facebook\napp_secret = file:/root/none\n"
                    "\n[audience replies]\nmatch = kind:comment\n")
    default = {r["contact"]: r["position"]
               for r in score_json(k.store, "--top", "0", "--compute")["contacts"]}
    assert default[ids[HUB]] == "key", default
    doc = score_json(k.store, "--top", "0", "--compute", "--config", str(conf))
    # No influence reaches 1000 times the average: no one is key now.
    assert "key" not in {r["position"] for r in doc["contacts"]}, doc["contacts"]
    assert {r["contact"] for r in doc["contacts"]} == set(default)
    # The same through $KANAL_CONFIG.
    p = subprocess.run([str(KANALCTL), "-s", str(k.store), "score", "--audience", "all",
                        "--compute", "--format", "json", "--top", "0"],
                       capture_output=True, text=True, timeout=60,
                       env={"KANAL_CONFIG": str(conf), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr
    assert "key" not in {r["position"] for r in json.loads(p.stdout)["contacts"]}
    # A named audience: computed with the file's match words, refused without.
    named = json.loads(ok(k.store, "score", "--audience", "replies", "--format", "json",
                          "--top", "0", "--config", str(conf)))
    assert named["audience"] == "replies" and named["kept"] is False
    assert named["contacts"][0]["contact"] == ids[HUB]
    assert ids[FAMOUS] not in {r["contact"] for r in named["contacts"]}  # no comment of theirs
    p = ctl(k.store, "score", "--audience", "replies")
    assert p.returncode == 1 and "--config" in p.stderr
    # A value kanald would refuse: kanalctl says where, and computes nothing.
    conf.write_text("[kanald]\nscore_max_audiences = 0\n")
    p = ctl(k.store, "score", "--audience", "all", "--compute", "--config", str(conf))
    assert p.returncode == 2 and p.stdout == ""
    assert f"{conf}:2" in p.stderr and "score_max_audiences" in p.stderr, p.stderr


def needed(path):
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))


def test_graphviz_is_linked_into_kanalctl_only():
    """libgvc is EPL: kanalctl links it, kanald and the plugins do not."""
    assert {"libgvc.so.6", "libcgraph.so.6"} <= needed(KANALCTL)
    others = [BUILD / "kanald"] + sorted((BUILD / "plugins").glob("*.so"))
    assert len(others) > 5
    for path in others:
        assert not {lib for lib in needed(path) if re.match(r"lib(gvc|cgraph|cdt)\.", lib)}, path
