"""Tests of the classic function API of steps 1-3 and its equivalence with session modes."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

import txpipe
from txpipe import synth
from txpipe.core.replay import verify


@pytest.fixture(scope="module")
def gt(tmp_path_factory):
    proto = synth.Protocol((synth.gray_movie("gray_c", 120), synth.step_movie("steps_c", repeat=2)))
    return synth.make_recording(tmp_path_factory.mktemp("classic"), n_units=3, protocol=proto, seed=21)


def digest(path):
    s = txpipe.PipelineSession.load(path)
    return s.content_digest()


STEPS = ("load_recording", "add_section_time", "add_section_time_analog", "section_spike_times")


def session_calls(s, gt):
    yield lambda: s.load_recording(gt.paths["cmcr"], gt.paths["cmtr"])
    yield lambda: s.add_section_time(gt.playlist_name, playlist_file=gt.paths["playlist"], movie_length_file=gt.paths["movie_length"])
    yield lambda: s.add_section_time_analog(3e4, "flash", 0.5)
    yield lambda: s.section_spike_times(pad_margin=(0.1, 0.2), config_dir=gt.paths["stimuli_dir"])


class TestModesAgree:
    def test_deferred_immediate_classic_identical(self, gt, tmp_path):
        """After each step, deferred session, defer=False session and classic calls give identical file content, and each journal replays to it."""
        a_digests, b_digests, c_digests = [], [], []
        with txpipe.pipeline_session(tmp_path / "A.h5", defer=True) as s:
            for k, call in enumerate(session_calls(s, gt)):
                call()
                a_digests.append(digest(s.checkpoint(tmp_path / f"A{k}.h5")))
        assert digest(tmp_path / "A.h5") == a_digests[-1]
        with txpipe.pipeline_session(tmp_path / "B.h5", defer=False) as s:
            for call in session_calls(s, gt):
                call()
                assert s.save_state is txpipe.SaveState.SAVED
                b_digests.append(digest(tmp_path / "B.h5"))
        r = txpipe.load_recording(gt.paths["cmcr"], gt.paths["cmtr"], output_dir=tmp_path / "C")
        c_digests.append(digest(r.hdf5_path))
        r2 = txpipe.add_section_time(r.hdf5_path, gt.playlist_name, playlist_file=gt.paths["playlist"], movie_length_file=gt.paths["movie_length"])
        c_digests.append(digest(r.hdf5_path))
        r3 = txpipe.add_section_time_analog(r.hdf5_path, 3e4, movie_name="flash", plot_duration=0.5)
        c_digests.append(digest(r.hdf5_path))
        r4 = txpipe.section_spike_times(r.hdf5_path, pad_margin=(0.1, 0.2), config_dir=gt.paths["stimuli_dir"])
        c_digests.append(digest(r.hdf5_path))
        assert a_digests == b_digests == c_digests
        for p in (tmp_path / "A.h5", tmp_path / "B.h5", r.hdf5_path):
            rep = verify(p)
            assert rep.identical, rep.summary()
            assert [e.step for e in txpipe.PipelineSession.load(p).journal] == list(STEPS)
        assert isinstance(r, txpipe.LoadResult) and r.num_units == 3 and r.dataset_id == gt.dataset_id and r.warnings == []
        assert isinstance(r2, txpipe.SectionTimeResult) and r2.movies == gt.movies and r2.n_sections == 2
        assert r3.movies == ("flash",) and r3.n_sections == 3
        assert isinstance(r4, txpipe.SectionResult) and r4.units_processed == 3 and (r4.pre_samples, r4.post_samples) == (2000, 4000)
        assert set(r4.movies_processed) == {*gt.movies, "flash"}


class TestLoadRecordingClassic:
    def test_cache_force_and_conflict(self, gt, tmp_path):
        """Same inputs and params: cached result; other params: FileExistsError; force=True: replaced atomically."""
        r = txpipe.load_recording(gt.paths["cmcr"], gt.paths["cmtr"], output_dir=tmp_path)
        assert r.hdf5_path == (tmp_path / f"{gt.dataset_id}.h5").absolute()
        again = txpipe.load_recording(gt.paths["cmcr"], gt.paths["cmtr"], output_dir=tmp_path)
        assert again.hdf5_path == r.hdf5_path and "cached" in again.warnings[0]
        with pytest.raises(FileExistsError, match=r"\.h5: exists .*force=True"):
            txpipe.load_recording(gt.paths["cmcr"], gt.paths["cmtr"], output_dir=tmp_path, min_frame_interval_s=0.005)
        with capture_logs() as logs:
            r3 = txpipe.load_recording(gt.paths["cmcr"], gt.paths["cmtr"], output_dir=tmp_path, force=True, min_frame_interval_s=0.005)
        assert "overwrite" in [e["event"] for e in logs]
        assert txpipe.PipelineSession.load(r3.hdf5_path).journal[-1].params["min_frame_interval_s"] == 0.005

    def test_defer_save_and_session(self, gt, tmp_path):
        """defer_save=True returns a DEFERRED session and writes nothing; session= runs on it and returns it."""
        s = txpipe.load_recording(gt.paths["cmcr"], gt.paths["cmtr"], output_dir=tmp_path, defer_save=True)
        assert isinstance(s, txpipe.PipelineSession) and s.save_state is txpipe.SaveState.DEFERRED
        assert list(tmp_path.iterdir()) == []
        assert txpipe.add_section_time(playlist_name=gt.playlist_name, playlist_file=gt.paths["playlist"],
                                       movie_length_file=gt.paths["movie_length"], session=s) is s
        assert s.save() == (tmp_path / f"{gt.dataset_id}.h5").absolute()
        s2 = txpipe.PipelineSession()
        assert txpipe.load_recording(gt.paths["cmcr"], gt.paths["cmtr"], session=s2) is s2 and len(s2.units) == 3


class TestPathStepsClassic:
    def test_session_where_path_required(self, gt, tmp_path):
        """A DEFERRED session given as hdf5_path is saved first with a WARNING implicit_save naming the path."""
        s = txpipe.load_recording(gt.paths["cmcr"], gt.paths["cmtr"], output_dir=tmp_path, defer_save=True)
        with capture_logs() as logs:
            r = txpipe.add_section_time(s, gt.playlist_name, playlist_file=gt.paths["playlist"], movie_length_file=gt.paths["movie_length"])
        ev = [e for e in logs if e["event"] == "implicit_save"]
        assert ev and ev[0]["log_level"] == "warning" and ev[0]["path"].endswith(f"{gt.dataset_id}.h5")
        assert r.hdf5_path == s.hdf5_path and s.save_state is txpipe.SaveState.SAVED
        assert [e.step for e in txpipe.PipelineSession.load(r.hdf5_path).journal] == ["load_recording", "add_section_time"]

    def test_force_semantics(self, gt, tmp_path):
        """Classic re-runs on a file refuse to replace existing movies unless force=True."""
        r = txpipe.load_recording(gt.paths["cmcr"], gt.paths["cmtr"], output_dir=tmp_path)
        kw = {"playlist_file": gt.paths["playlist"], "movie_length_file": gt.paths["movie_length"]}
        txpipe.add_section_time(r.hdf5_path, gt.playlist_name, **kw)
        with pytest.raises(FileExistsError, match="already has section_time"):
            txpipe.add_section_time(r.hdf5_path, gt.playlist_name, **kw)
        txpipe.add_section_time(r.hdf5_path, gt.playlist_name, force=True, **kw)
        txpipe.add_section_time_analog(r.hdf5_path, 3e4, movie_name="flash", plot_duration=0.5)
        with pytest.raises(FileExistsError, match="section_time/flash"):
            txpipe.add_section_time_analog(r.hdf5_path, 3e4, movie_name="flash", plot_duration=0.5)
        txpipe.section_spike_times(r.hdf5_path, movie_names=["flash"])
        with pytest.raises(FileExistsError, match=r"already has spike_times_sectioned/flash;"):
            txpipe.section_spike_times(r.hdf5_path, movie_names=["flash"])
        res = txpipe.section_spike_times(r.hdf5_path, movie_names=["flash"], force=True)
        assert res.movies_processed == ("flash",)
        assert verify(r.hdf5_path).identical

    def test_defer_save_on_path(self, gt, tmp_path):
        """defer_save=True on a path step returns a DEFERRED session; the file is unchanged."""
        r = txpipe.load_recording(gt.paths["cmcr"], gt.paths["cmtr"], output_dir=tmp_path)
        before = digest(r.hdf5_path)
        s = txpipe.add_section_time(r.hdf5_path, gt.playlist_name, playlist_file=gt.paths["playlist"],
                                    movie_length_file=gt.paths["movie_length"], defer_save=True)
        assert s.save_state is txpipe.SaveState.DEFERRED and digest(r.hdf5_path) == before
        s.save()
        assert digest(r.hdf5_path) != before
