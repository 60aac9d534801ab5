# SPDX-License-Identifier: Apache-2.0
"""The audience's communities against an independent implementation.

daemon/score/community.c finds communities by Louvain's method (local
moving, then each community as one node, again) and computes their
modularity itself; networkx computes the modularity of the
same partition here, on the undirected graph the audience's interactions
make (u-v weighs what u said to v and v to u), and both must agree to
1e-6.  The partition must also be one: every node in exactly one
community, and the same graph must give the same communities every time
(no randomness), and the partition must be about as good as networkx's own
Louvain finds.  On graphs made of clear groups with few edges between
them, the groups are found.  test_score_community's "modularity" mode
reads a graph and prints its communities."""
import os
import random
import subprocess
from pathlib import Path

import networkx as nx
import pytest
from networkx.algorithms.community import louvain_communities, modularity

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("KANAL_BUILD") or ROOT / "build")
ORACLE = BUILD / "tests" / "test_score_community"


def run(n, edges):
    lines = [f"{n} {len(edges)}"] + [f"{a} {b} {w!r}" for a, b, w in edges]
    p = subprocess.run([str(ORACLE), "modularity"], input="\n".join(lines) + "\n",
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = p.stdout.split("\n")
    count, q = out[0].split()
    return int(count), float(q), [int(x) for x in out[1:n + 1]]


def undirected(n, edges):
    G = nx.Graph()
    G.add_nodes_from(range(n))
    for a, b, w in edges:
        if a == b:
            continue  # kanald drops self-loops
        if G.has_edge(a, b):
            G[a][b]["weight"] += w
        else:
            G.add_edge(a, b, weight=w)
    return G


CASES = [
    # (seed, nodes, edges)
    (1, 2, 1),
    (2, 10, 15),
    (3, 30, 25),  # sparse: isolated nodes and pairs
    (4, 40, 400),  # dense, answered both ways, repeated
    (5, 100, 300),
    (6, 500, 1500),
    (7, 1000, 5000),
]


@pytest.mark.parametrize("seed,n,m", CASES)
def test_modularity_against_networkx(seed, n, m):
    rng = random.Random(seed)
    edges = [(rng.randrange(n), rng.randrange(n), rng.choice([1.0, 0.5, rng.uniform(0.01, 3)]))
             for _ in range(m)]
    count, q, of = run(n, edges)
    assert len(of) == n and all(0 <= c < count for c in of)
    assert sorted(set(of)) == list(range(count))  # numbered 0.. with none empty
    sizes = [of.count(c) for c in range(count)]
    assert sizes == sorted(sizes, reverse=True)  # largest first
    parts = [{v for v in range(n) if of[v] == c} for c in range(count)]
    G = undirected(n, edges)
    if G.number_of_edges() == 0:  # networkx divides by the weight
        assert q == 0 and count == n
        return
    want = modularity(G, parts, weight="weight")
    assert abs(q - want) < 1e-6, (q, want)
    # A partition that every local move only worsens is no worse than
    # every node on its own (modularity of singletons).
    assert q >= modularity(G, [{v} for v in range(n)], weight="weight") - 1e-9
    assert run(n, edges) == (count, q, of)  # the same every time
    # As good as networkx's own Louvain (randomized: its best of three seeds).
    best = max(modularity(G, louvain_communities(G, weight="weight", seed=s), weight="weight")
               for s in range(3))
    assert q >= 0.95 * best, (q, best)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_planted_groups_found(seed):
    """Five groups of 12, dense inside, one edge from each group to the
    next: each group is one community."""
    rng = random.Random(seed)
    groups, size = 5, 12
    edges = []
    for g in range(groups):
        members = list(range(g * size, (g + 1) * size))
        for a in members:
            for b in rng.sample(members, 6):
                if a != b:
                    edges.append((a, b, 1.0))
        edges.append((members[0], ((g + 1) % groups) * size + 1, 1.0))
    rng.shuffle(edges)
    n = groups * size
    count, q, of = run(n, edges)
    assert count == groups
    for g in range(groups):
        assert len({of[v] for v in range(g * size, (g + 1) * size)}) == 1
    want = modularity(undirected(n, edges),
                      [set(range(g * size, (g + 1) * size)) for g in range(groups)],
                      weight="weight")
    assert abs(q - want) < 1e-6
