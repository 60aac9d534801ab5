# SPDX-License-Identifier: Apache-2.0
"""The scores' graph measures against an independent implementation.

daemon/score/graph.c computes PageRank (weighted, personalized on a set of
nodes) and k-core indexes itself; networkx computes them here on the same
random graphs, and every value must agree to 1e-6.  The graphs cover the
classes of input an audience gives: sparse and dense, with nodes no one
answers and nodes that answer no one (dangling), repeated edges (summed),
self-loops (dropped), isolated nodes, and personalization on every node or
on a few.  test_score_graph's "oracle" mode reads a graph and prints its
measures."""
import os
import random
import subprocess
from pathlib import Path

import networkx as nx
import pytest

# networkx 2.8 warns that its pagerank_scipy, which pagerank() calls, moves.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("KANAL_BUILD") or ROOT / "build")
ORACLE = BUILD / "tests" / "test_score_graph"

CASES = [
    # (seed, nodes, edges, personalized nodes or 0 for all alike, alpha)
    (1, 1, 0, 0, 0.85),
    (2, 2, 1, 0, 0.85),
    (3, 10, 15, 0, 0.85),
    (4, 30, 25, 0, 0.85),  # sparse: many components, many dangling
    (5, 40, 400, 0, 0.85),  # dense, many repeats
    (6, 60, 150, 5, 0.85),  # personalized on five members
    (7, 100, 300, 1, 0.5),
    (8, 200, 800, 20, 0.9),
    (9, 500, 1500, 0, 0.85),
    (10, 500, 5000, 50, 0.85),
]


def run_oracle(n, edges, personal, alpha):
    lines = [f"{n} {len(edges)} {alpha!r}"]
    lines += [f"{a} {b} {w!r}" for a, b, w in edges]
    lines.append(str(len(personal)))
    lines += [f"{v} {w!r}" for v, w in personal.items()]
    p = subprocess.run([str(ORACLE), "oracle"], input="\n".join(lines) + "\n",
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = p.stdout.split("\n")
    rounds, max_core = (int(x) for x in out[0].split())
    ranks, cores = [], []
    for line in out[1:n + 1]:
        r, c = line.split()
        ranks.append(float(r))
        cores.append(int(c))
    comps, largest, recip, density = out[n + 1].split()
    return rounds, max_core, ranks, cores, (int(comps), int(largest), float(recip),
                                            float(density))


@pytest.mark.parametrize("seed,n,m,k,alpha", CASES)
def test_against_networkx(seed, n, m, k, alpha):
    rng = random.Random(seed)
    edges = []
    for _ in range(m):
        a, b = rng.randrange(n), rng.randrange(n)
        # A few hubs draw most answers, as a brand or a key customer does.
        if rng.random() < 0.3:
            b = rng.randrange(max(1, n // 10))
        edges.append((a, b, rng.choice([1.0, 0.5, 0.25, rng.uniform(0.01, 3.0)])))
    personal = {v: rng.uniform(0.1, 2.0) for v in rng.sample(range(n), k)} if k else {}

    G = nx.DiGraph()
    G.add_nodes_from(range(n))
    for a, b, w in edges:
        if a == b:
            continue  # kanald drops self-loops
        if G.has_edge(a, b):
            G[a][b]["weight"] += w  # and sums repeated edges
        else:
            G.add_edge(a, b, weight=w)

    rounds, max_core, ranks, cores, shape = run_oracle(n, edges, personal, alpha)
    assert rounds > 0, "did not converge"

    want = nx.pagerank(G, alpha=alpha, personalization=personal or None,
                       weight="weight", tol=1e-13, max_iter=10000)
    for v in range(n):
        assert abs(ranks[v] - want[v]) < 1e-6, (v, ranks[v], want[v])
    assert abs(sum(ranks) - 1) < 1e-9
    if personal:  # the jump reaches only the audience's members
        unreachable = set(range(n)) - set(personal) - {
            u for v in personal for u in nx.descendants(G, v)}
        assert all(ranks[v] < 1e-9 for v in unreachable)

    U = G.to_undirected()
    want_core = nx.core_number(U)
    assert cores == [want_core[v] for v in range(n)]
    assert max_core == max(want_core.values(), default=0)

    comps, largest, recip, density = shape
    wcc = list(nx.weakly_connected_components(G))
    assert comps == len(wcc)
    assert largest == max(len(c) for c in wcc)
    if G.number_of_edges():
        assert abs(recip - nx.overall_reciprocity(G)) < 1e-12
    assert abs(density - nx.density(G)) < 1e-12
