# SPDX-License-Identifier: Apache-2.0
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from kanal import Kanald  # noqa: E402


@pytest.fixture
def make_kanald(tmp_path):
    """Factory for kanald instances; every one is stopped at the end of the
    test, even when it fails.  A clean stop must exit 0 (in the sanitizer
    build that also means no leak and no UB report)."""
    started = []

    def make(sub="k", **kw):
        d = tmp_path / sub
        d.mkdir(exist_ok=True)
        k = Kanald(d, **kw)
        started.append(k)
        return k

    yield make
    errors = []
    for k in started:
        if not k.proc:
            continue
        if k.proc.poll() is None:
            rc = k.stop()
            if rc != 0:
                errors.append(f"kanald exited {rc} on SIGTERM; log:\n{k.log()}")
        elif k.proc.returncode != 0 and not k.expect_exit and not k.killed:
            k._reader.join(timeout=5)
            errors.append(f"kanald died by itself ({k.proc.returncode}); log:\n{k.log()}")
    if errors:
        pytest.fail("\n".join(errors))


@pytest.fixture
def kanald(make_kanald):
    """A running kanald with one webhook source named 'hooks'."""
    return make_kanald().start()


@pytest.fixture
def nats_cluster(tmp_path):
    """A 3-node nats-server cluster with JetStream on loopback (not yet
    started); every node is stopped at the end, even when the test fails."""
    from natscluster import Cluster

    d = tmp_path / "nats"
    d.mkdir()
    c = Cluster(d)
    yield c
    c.stop()
