"""Edge cases of commits and files: target names with glob characters or near the length limit,
memory_limit with a lazily loaded file, tampered and malformed journals."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

import txpipe
from toysteps import toy_put
from txpipe import Changes
from txpipe.core import atomic
from txpipe.core.replay import verify
from txpipe.core.step import step
from txpipe.errors import MemoryLimitError, NotATxpipeFileError


def _rewrite_journal(path, edit) -> None:
    """Replace the journal text of a committed file by edit(journal dict) (attributes kept)."""
    with h5py.File(path, "r+") as f:
        ds = f["pipeline/journal"]
        attrs = dict(ds.attrs)
        d = json.loads(ds.asstr()[()])
        new = edit(d)
        del f["pipeline/journal"]
        ds = f["pipeline"].create_dataset("journal", data=new if isinstance(new, str) else json.dumps(new),
                                          dtype=h5py.string_dtype("utf-8"))
        ds.attrs.update(attrs)


class TestTempNames:
    """Temporary files are matched by exact name, never by a glob of the target's name."""

    def test_glob_characters_do_not_touch_other_targets(self, tmp_path):
        """Committing rec[1].h5 removes its own stale temporary, never those of rec1.h5 or rec[1].h5.x.h5."""
        mine = tmp_path / "rec[1].h5"
        others = [tmp_path / "rec1.h5", tmp_path / "rec[1].h5.x.h5"]
        stray_mine = atomic.temp_path_for(mine)
        stray_mine.write_bytes(b"left by a killed commit")
        in_progress = [atomic.temp_path_for(o) for o in others]
        for p in in_progress:
            p.write_bytes(b"another writer's commit in progress")
        assert atomic.stale_temps(mine) == [stray_mine]
        s = txpipe.PipelineSession("ds").run(toy_put, path="g0/a", seed=1)
        s.save(mine)
        assert not stray_mine.exists()
        assert all(p.exists() for p in in_progress)
        assert txpipe.PipelineSession.load(mine).content_digest() == s.content_digest()

    @pytest.mark.parametrize("n", [236, 251])
    def test_long_legal_name(self, tmp_path, n):
        """A legal target name of n bytes commits (temporary and lock files use a short digest name)."""
        target = tmp_path / ("r" * (n - 3) + ".h5")
        assert len(target.name) == n
        s = txpipe.PipelineSession("ds").run(toy_put, path="g0/a", seed=1)
        with txpipe.pipeline_session(target, dataset_id="ds") as b:
            b.run(toy_put, path="g0/a", seed=1)
        s.save(target)
        assert txpipe.PipelineSession.load(target).content_digest() == s.content_digest()
        assert atomic.stale_temps(target) == []
        assert all(len(p.name.encode()) <= 255 for p in tmp_path.iterdir())


@step("edge_big", version="1")
def edge_big(state, *, n: int) -> Changes:
    return Changes().put("a/big", np.ones(n))


MARKED_ARRAY = np.arange(200, dtype="<i8") * 7919 + 123_456_789
MARKED_ATTR = np.arange(4, dtype="<i8") + 987_654_321_012


BIG_ATTR = np.arange(20_000, dtype="<i8") + 5_000_000_000  # 160 kB: too large for an object header


@step("edge_big_attr", version="1")
def toy_attrs_big(state) -> Changes:
    return Changes().put("x/a", np.arange(10.0), big=BIG_ATTR)


@step("edge_marked", version="1")
def edge_marked(state) -> Changes:
    """A small array and a numeric attribute whose bytes occur once in the file."""
    return Changes().put("m/arr", MARKED_ARRAY, tag=MARKED_ATTR)


@step("edge_scale", version="1")
def edge_scale(state) -> Changes:
    return Changes().put("a/big", state["a/big"] * 2)


@step("edge_small", version="1")
def edge_small(state, *, k: int) -> Changes:
    return Changes().put(f"a/s{k}", np.ones(10))


class TestMemoryLimitLazy:
    def test_reading_a_lazy_array_does_not_wedge(self, tmp_path):
        """A step reading an 8 MB lazy array under a 9 MB limit: the refused step and later steps
        do not count the file's data as held memory."""
        path = tmp_path / "m.h5"
        txpipe.PipelineSession("m").run(edge_big, n=1_000_000).save(path)
        s = txpipe.PipelineSession.load(path, memory_limit=9_000_000, defer=True)
        assert s.nbytes == 0
        s.run(edge_small, k=1)
        assert s.nbytes == 80
        s.run(edge_scale)  # reads 8 MB from the file and holds 8 MB of new data
        assert s.nbytes == 8_000_080
        with pytest.raises(MemoryLimitError):
            s.run(edge_scale)  # would hold 16 MB
        s.run(edge_small, k=2)  # not wedged
        assert s.nbytes == 8_000_160


class TestJournalIntegrity:
    @pytest.fixture
    def saved(self, tmp_path):
        path = tmp_path / "j.h5"
        txpipe.PipelineSession("ds").run(toy_put, path="g0/a", seed=1).run(toy_put, path="g0/b", seed=2).save(path)
        assert verify(path).identical
        return path

    def test_tampered_step_version_is_different(self, saved):
        """verify reports a journal whose step_version was edited."""
        def edit(d):
            d["entries"][1]["step_version"] = "99"
            return d

        _rewrite_journal(saved, edit)
        rep = verify(saved)
        assert not rep.identical and any("step_version '99'" in x for x in rep.differences)

    def test_tampered_digest_is_different(self, saved):
        """verify reports a journal whose recorded change digest was edited."""
        tampered = []

        def edit(d):
            rec = d["entries"][0]["changed"][-1]
            rec["digest"] = "0" * 32
            tampered.append(rec["path"])
            return d

        _rewrite_journal(saved, edit)
        rep = verify(saved)
        assert not rep.identical
        assert any("recorded changes differ" in x and tampered[0] in x for x in rep.differences), rep.differences

    @pytest.mark.parametrize("bad", ["entries_not_dicts", "not_json", "params_list"])
    def test_malformed_journal_names_the_file(self, saved, bad):
        """A malformed journal: NotATxpipeFileError naming the file and the journal; the CLI says so (exit 1)."""
        def edit(d):
            if bad == "entries_not_dicts":
                d["entries"] = [1, 2]
            elif bad == "not_json":
                return "{not json"
            else:
                d["entries"][0]["params"] = [1, 2]
            return d

        _rewrite_journal(saved, edit)
        with pytest.raises(NotATxpipeFileError, match="journal") as ei:
            txpipe.PipelineSession.load(saved)
        assert str(saved) in str(ei.value)
        r = subprocess.run([sys.executable, "-m", "txpipe.runner.cli", "verify", str(saved)], capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 1 and str(saved) in r.stderr and "unexpected" not in r.stderr, r.stderr


class TestReadBackCheck:
    """The check run before the completion marker fails on any difference from the state."""

    @pytest.fixture
    def written(self, tmp_path):
        from toysteps import KINDS

        s = txpipe.PipelineSession("ds")
        for i, kind in enumerate(KINDS):
            s.run(toy_put, path=f"g/{kind}", seed=i, kind=kind)
        s.run(edge_big, n=300_000)  # 2.4 MB: compared at sampled slices
        path = s.save(tmp_path / "w.h5")
        return s, path

    @pytest.mark.parametrize("damage", ["big_array_first", "big_array_last", "missing_member",
                                        "nested_member", "str_value", "journal"])
    def test_damage_is_detected(self, written, damage):
        """Each kind of damage to a written file makes verify_written raise CommitError naming the file.

        These are edits through HDF5 (well-formed files holding other values). Small arrays and
        attributes live in checksummed object headers and are checked by their checksums, so an
        edit through HDF5 (which recomputes the checksum) is not seen there; every byte HDF5
        writes is checked on its way to the OS, so a real fault can only leave bytes missing or
        stale, which the checksums catch (test_torn_header_bytes_are_detected)."""
        from txpipe.core import store

        s, path = written
        with h5py.File(path, "r+") as f:
            if damage in ("big_array_first", "big_array_last"):
                ds = f["a/big"]
                ds[0 if damage.endswith("first") else -1] = 7.0
            elif damage == "missing_member":
                del f["g/none"]
            elif damage == "nested_member":
                del f["g/nested/b/2"]
            elif damage == "str_value":
                del f["g/str"]
                f["g"].create_dataset("str", data="tampered", dtype=h5py.string_dtype())
                f["g/str"].attrs["txpipe_type"] = "str"
            else:
                f["pipeline/journal"][()] = "{}"
        with pytest.raises(txpipe.errors.CommitError, match=str(path)):
            store.verify_written(path, s._tree, s._journal.to_text())

    @pytest.mark.parametrize("what", ["small_array", "attribute"])
    @pytest.mark.parametrize("how", ["flipped", "zeroed"])
    def test_torn_header_bytes_are_detected(self, tmp_path, what, how):
        """Bytes of an object header that differ from what HDF5 wrote (a small array's data, an
        attribute's value) fail the check: HDF5 verifies the header's checksum on re-opening."""
        from txpipe.core import store

        s = txpipe.PipelineSession("ds").run(edge_marked)
        path = s.save(tmp_path / "m.h5")
        value = MARKED_ARRAY if what == "small_array" else MARKED_ATTR
        raw = bytearray(path.read_bytes())
        pattern = np.asarray(value).tobytes()
        assert raw.count(pattern) == 1
        at = raw.index(pattern) + 8
        raw[at : at + 1] = b"\xff" if how == "flipped" and raw[at] != 0xFF else b"\x00"
        if how == "zeroed":
            raw[at : at + 8] = bytes(8)
        path.write_bytes(bytes(raw))
        with pytest.raises(txpipe.errors.CommitError, match=str(path)):
            store.verify_written(path, s._tree, s._journal.to_text())

    def test_attributes_outside_the_header_are_compared(self, tmp_path):
        """An attribute too large for the object header lives in a separate heap, which visiting
        the objects does not read: its value is compared with memory."""
        from txpipe.core import store

        big = BIG_ATTR
        s = txpipe.PipelineSession("ds").run(toy_attrs_big)
        path = s.save(tmp_path / "b.h5")
        with h5py.File(path, "r+") as f:
            f["x/a"].attrs["big"] = np.where(big == big[5], 1, big)
        with pytest.raises(txpipe.errors.CommitError, match=str(path)):
            store.verify_written(path, s._tree, s._journal.to_text())

    def test_undamaged_passes(self, written):
        from txpipe.core import store

        s, path = written
        store.verify_written(path, s._tree, s._journal.to_text())


class TestSampledComparison:
    """Arrays above VERIFY_FULL_BYTES are compared at VERIFY_SAMPLES evenly spread slices (first
    and last included), read with one HDF5 call per array."""

    @staticmethod
    def _sample_rows(n_rows: int, row_bytes: int) -> list[int]:
        from txpipe.core import store

        n = max(1, store.VERIFY_SAMPLE_BYTES // row_bytes)
        starts = np.linspace(0, n_rows - n, store.VERIFY_SAMPLES).astype(np.int64)
        return sorted({int(s) + k for s in starts for k in (0, n - 1)})  # first and last row of each slice

    @pytest.mark.parametrize("source", ["memory", "file"])
    @pytest.mark.parametrize("shape", [(300_000,), (2_000, 300), (40, 50_000)])
    def test_every_sampled_slice_is_compared(self, tmp_path, source, shape):
        """A value changed in any row of any sampled slice fails the comparison, whether the
        expected data is in memory or in another file (a lazy leaf); equal data passes."""
        from txpipe.core import store

        data = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
        assert data.nbytes > store.VERIFY_FULL_BYTES
        with h5py.File(tmp_path / "w.h5", "w") as f, h5py.File(tmp_path / "src.h5", "w") as g:
            ds = f.create_dataset("a", data=data)
            expected = data if source == "memory" else g.create_dataset("a", data=data)
            cmp = store._Comparer()
            assert cmp.same(ds, expected)
            rows = self._sample_rows(shape[0], data[0].nbytes)
            assert rows[0] == 0 and rows[-1] == shape[0] - 1 and len(rows) >= store.VERIFY_SAMPLES
            for r in rows:
                old = ds[r]
                ds[r] = old + 1
                assert not cmp.same(ds, expected), f"row {r}"
                ds[r] = old
            assert cmp.same(ds, expected)

    def test_batches_merge_overlaps_and_bound_each_read(self):
        """Row ranges are sorted, overlapping ones merged, and grouped so no read exceeds the
        buffer."""
        from txpipe.core.store import _batches

        assert _batches([(10, 14), (0, 4), (3, 6), (6, 8)], 100) == [[(0, 8), (10, 14)]]
        assert _batches([(0, 4), (5, 9), (10, 14)], 7) == [[(0, 4)], [(5, 9)], [(10, 14)]]
        assert _batches([(0, 4), (5, 8), (10, 17)], 7) == [[(0, 4), (5, 8)], [(10, 17)]]
        assert _batches([(0, 7), (3, 10)], 10) == [[(0, 10)]]
