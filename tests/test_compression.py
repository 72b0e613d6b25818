"""`--compress`: the same content in a smaller file, compressed only inside the setting."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import txpipe
from txpipe.core.compression import MIN_BYTES, compression, current_level
from txpipe.core.fingerprint import tree_digests
from txpipe.errors import ConfigurationError
from txpipe.runner.cli import main


@txpipe.step("toy_arrays", version="1")
def toy_arrays(state, *, n: int) -> txpipe.Changes:
    ch = txpipe.Changes()
    rng = np.random.default_rng(0)
    ch.put("big/smooth", np.cumsum(rng.normal(size=n)).astype(np.float32))
    ch.put("big/ints", rng.integers(0, 5, size=n).astype(np.uint64))
    ch.put("small", np.arange(10, dtype=np.int32))
    ch.put("text", "hello")
    return ch


def _filters(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, (o.compression, o.shuffle)) if isinstance(o, h5py.Dataset) else None)
    return out


def test_same_content_smaller_file(tmp_path):
    """Compressed and plain commits of one session hold equal digests; the compressed file is
    smaller; only arrays of at least MIN_BYTES are filtered; the setting ends with its block."""
    s = txpipe.PipelineSession("ds")
    s.run(toy_arrays, n=200_000)
    plain = s.checkpoint(tmp_path / "plain.h5")
    with compression(6):
        assert current_level() == 6
        packed = s.checkpoint(tmp_path / "packed.h5")
    assert current_level() is None
    again = s.checkpoint(tmp_path / "again.h5")
    s.discard()
    a = tree_digests(txpipe.PipelineSession.load(plain)._tree)
    b = tree_digests(txpipe.PipelineSession.load(packed)._tree)
    assert a == b
    assert packed.stat().st_size < 0.8 * plain.stat().st_size
    f = _filters(packed)
    assert f["big/smooth"] == ("gzip", True) and f["big/ints"] == ("gzip", True)
    assert f["small"] == (None, False)
    assert 10 * 4 < MIN_BYTES
    assert all(c == (None, False) for c in _filters(again).values())
    with h5py.File(packed, "r") as h:
        np.testing.assert_array_equal(h["big/ints"][()], txpipe.PipelineSession.load(plain).state["big/ints"])


def test_bad_level():
    with pytest.raises(ConfigurationError, match="1 to 9"):
        with compression(0):
            pass


def test_cli_run_compress(tmp_path, capsys):
    """`txpipe run --compress` writes a verifiable, compressed file; bad levels are usage errors."""
    from txpipe.runner.batch import synth_recordings

    t = synth_recordings(tmp_path / "d", n_units=2)[0]
    out = tmp_path / "o.h5"
    assert main(["run", t.paths["cmcr"], t.paths["cmtr"], "-o", str(out), "--compress-level", "2"]) == 0
    assert ("gzip", True) in _filters(out).values()
    assert main(["verify", str(out)]) == 0
    with pytest.raises(SystemExit) as e:
        main(["run", t.paths["cmcr"], t.paths["cmtr"], "-o", str(out), "--compress-level", "12"])
    assert e.value.code == 2
