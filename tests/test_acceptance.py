"""
Acceptance tests: one per seed scenario (User Stories 1–3, FR-001…FR-008) on the whole pipeline.

Every way of running the pipeline — one deferred ``with`` block, a chain of classic path-based
calls, a mixed run (deferred, ``save()``, then path-based calls) and checkpoint + load + continue —
must give the same file content (``content_digest``).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest
from structlog.testing import capture_logs

import txpipe
from txpipe import PipelineSession, SaveState, pipeline_session, synth

FEATURES = ["frif", "baseline_127", "step_response"]
FPARAMS = {"step_response": {"movie": "step_up_demo"}}


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> synth.GroundTruth:
    """The default synthetic recording (8 units, 49 s)."""
    return synth.make_recording(tmp_path_factory.mktemp("accept"), seed=7)


def steps_1_2(s: PipelineSession, rec: synth.GroundTruth) -> PipelineSession:
    return s.load_recording(rec.paths["cmcr"], rec.paths["cmtr"]).add_section_time(
        rec.playlist_name, playlist_file=rec.paths["playlist"], movie_length_file=rec.paths["movie_length"])


def steps_3_5(s: PipelineSession, rec: synth.GroundTruth) -> PipelineSession:
    return (s.section_spike_times(config_dir=rec.paths["stimuli_dir"])
            .compute_sta(stimuli_dir=rec.paths["stimuli_dir"])
            .extract_features(FEATURES, params=FPARAMS))


def digest_of(path: Path) -> str:
    s = PipelineSession.load(path)
    return s.content_digest()


def events(logs: list[dict], name: str) -> list[dict]:
    return [e for e in logs if e["event"] == name]


@pytest.fixture(scope="module")
def deferred(rec, tmp_path_factory) -> tuple[Path, str]:
    """The whole pipeline in one deferred ``with`` block; its file and content digest."""
    out = tmp_path_factory.mktemp("deferred") / "out.h5"
    with pipeline_session(out) as s:
        steps_3_5(steps_1_2(s, rec), rec)
        assert not out.exists()
    assert s.save_state is SaveState.SAVED
    return out, s.content_digest()


def classic_chain(rec: synth.GroundTruth, out_dir: Path) -> Path:
    """The pre-txpipe script: path-based calls, each saving immediately."""
    r = txpipe.load_recording(rec.paths["cmcr"], rec.paths["cmtr"], output_dir=out_dir)
    p = r.hdf5_path
    txpipe.add_section_time(p, rec.playlist_name, playlist_file=rec.paths["playlist"],
                            movie_length_file=rec.paths["movie_length"])
    txpipe.section_spike_times(p, config_dir=rec.paths["stimuli_dir"])
    txpipe.compute_sta(p, stimuli_dir=rec.paths["stimuli_dir"])
    txpipe.extract_features(p, FEATURES, params=FPARAMS)
    return Path(p)


class TestUserStory1:
    """Run the complete pipeline without intermediate saves."""

    def test_no_file_until_save(self, rec, tmp_path, deferred) -> None:
        """US1-1/FR-001: defer_save=True and later steps write no HDF5 file until save()."""
        s = txpipe.load_recording(rec.paths["cmcr"], rec.paths["cmtr"], output_dir=tmp_path, defer_save=True)
        assert s.save_state is SaveState.DEFERRED
        s.add_section_time(rec.playlist_name, playlist_file=rec.paths["playlist"],
                           movie_length_file=rec.paths["movie_length"])
        steps_3_5(s, rec)
        assert list(tmp_path.rglob("*.h5")) == []
        path = s.save()  # US1-2 / FR-003: one file with everything
        assert [p.name for p in tmp_path.rglob("*.h5")] == [path.name]
        assert digest_of(path) == deferred[1]
        assert [e.step for e in PipelineSession.load(path).journal] == [
            "load_recording", "add_section_time", "section_spike_times", "compute_sta", "extract_features"]

    def test_crash_before_save_persists_nothing(self, rec, tmp_path) -> None:
        """US1-3: an exception in the block commits nothing and logs rollback."""
        out = tmp_path / "crash.h5"
        with capture_logs() as logs, pytest.raises(RuntimeError, match="power cut"):
            with pipeline_session(out) as s:
                steps_1_2(s, rec)
                raise RuntimeError("power cut")
        assert not out.exists() and events(logs, "rollback")

    def test_session_holds_accumulated_state(self, deferred) -> None:
        """FR-002: one session object holds units, metadata, stimulus, features and sections."""
        s = PipelineSession.load(deferred[0])
        assert len(s.units) == 8
        for p in ("metadata/frame_timestamps", "stimulus/section_time/dense_noise_15x15_15hz_demo",
                  f"units/{s.units[0]}/features/frif/FRIF",
                  f"units/{s.units[0]}/features/sta_dense_noise_15x15_15hz_demo/sta"):
            assert p in s.state


class TestUserStory2:
    """Save at intermediate checkpoints."""

    def test_checkpoint_holds_steps_so_far(self, rec, tmp_path, deferred) -> None:
        """US2-1/2: a checkpoint after step 2 holds exactly steps 1–2 while the session goes on;
        a later checkpoint holds more; FR-008: loading it continues to the same final file."""
        out, ck2, ck4 = tmp_path / "final.h5", tmp_path / "after2.h5", tmp_path / "after4.h5"
        with pipeline_session(out) as s:
            steps_1_2(s, rec)
            s.checkpoint(ck2, checkpoint_name="after_step2")
            s.section_spike_times(config_dir=rec.paths["stimuli_dir"]).compute_sta(stimuli_dir=rec.paths["stimuli_dir"])
            s.checkpoint(ck4, checkpoint_name="after_step4")
            assert s.save_state is SaveState.DEFERRED and not out.exists()
            s.extract_features(FEATURES, params=FPARAMS)
        c2 = PipelineSession.load(ck2)
        assert [e.step for e in c2.journal] == ["load_recording", "add_section_time"]
        assert "units/unit_001/spike_times_sectioned" not in c2.state
        with h5py.File(ck2) as f:
            assert f["pipeline/journal"].attrs["checkpoint_name"] == "after_step2"
        assert len(PipelineSession.load(ck4).journal) == 4
        assert digest_of(out) == deferred[1]
        # FR-008: resume from the checkpoint and finish: same content as the one-block run
        resumed = PipelineSession.load(ck2)
        steps_3_5(resumed, rec)
        assert resumed.save_state is SaveState.SAVED
        assert digest_of(ck2) == deferred[1]

    def test_checkpoint_conflicts(self, rec, tmp_path) -> None:
        """FR-004: an existing checkpoint file is overwritten with a WARNING, or FileExistsError."""
        s = steps_1_2(PipelineSession(), rec)
        ck = tmp_path / "ck.h5"
        s.checkpoint(ck)
        with capture_logs() as logs:
            s.checkpoint(ck)
        assert events(logs, "overwrite")[0]["log_level"] == "warning"
        with pytest.raises(FileExistsError):
            s.checkpoint(ck, overwrite=False)
        s.discard()


class TestUserStory3:
    """Backwards-compatible default behaviour."""

    def test_classic_script_same_content(self, rec, tmp_path, deferred) -> None:
        """US3-1/2, SC-002, FR-005: the classic chain saves after each step and writes the same content."""
        p = classic_chain(rec, tmp_path)
        assert digest_of(p) == deferred[1]

    def test_classic_call_writes_immediately(self, rec, tmp_path) -> None:
        """FR-005: load_recording(cmcr, cmtr) writes its file before returning."""
        r = txpipe.load_recording(rec.paths["cmcr"], rec.paths["cmtr"], output_dir=tmp_path)
        assert Path(r.hdf5_path).exists() and r.num_units == 8
        assert len(PipelineSession.load(r.hdf5_path).units) == 8


class TestModeTransitions:
    """Deferred → saved → path-based calls, and implicit saves."""

    def test_mixed_run(self, rec, tmp_path, deferred) -> None:
        """FR-006: deferred steps, save(), then path-based calls give the same content."""
        s = steps_1_2(PipelineSession(output_dir=tmp_path), rec)
        path = s.save(tmp_path / "mixed.h5")
        assert s.save_state is SaveState.SAVED
        txpipe.section_spike_times(path, config_dir=rec.paths["stimuli_dir"])
        txpipe.compute_sta(path, stimuli_dir=rec.paths["stimuli_dir"])
        r = txpipe.extract_features(path, FEATURES, params=FPARAMS)
        assert r.hdf5_path == path.absolute()
        assert digest_of(path) == deferred[1]

    def test_implicit_save_warns(self, rec, tmp_path, deferred) -> None:
        """FR-007: a DEFERRED session where a path is required is saved with a WARNING, then continues SAVED."""
        s = steps_1_2(PipelineSession(output_dir=tmp_path), rec)
        s.section_spike_times(config_dir=rec.paths["stimuli_dir"])
        with capture_logs() as logs:
            r = txpipe.compute_sta(s, stimuli_dir=rec.paths["stimuli_dir"])
        ev = events(logs, "implicit_save")
        assert ev and ev[0]["log_level"] == "warning" and ev[0]["path"].endswith(".h5")
        assert s.save_state is SaveState.SAVED and Path(r.hdf5_path) == s.hdf5_path
        s.extract_features(FEATURES, params=FPARAMS)  # SAVED: writes through
        assert s.save_state is SaveState.SAVED
        assert digest_of(s.hdf5_path) == deferred[1]

    def test_immediate_block(self, rec, tmp_path, deferred) -> None:
        """defer=False commits every step; the final content is the same."""
        out = tmp_path / "imm.h5"
        with pipeline_session(out, defer=False) as s:
            steps_1_2(s, rec)
            assert out.exists() and len(PipelineSession.load(out).journal) == 2
            steps_3_5(s, rec)
        assert digest_of(out) == deferred[1]

    def test_verify_identical(self, deferred) -> None:
        """The deferred file's journal replays to identical content."""
        from txpipe.core.replay import verify

        rep = verify(deferred[0])
        assert rep.identical, rep.summary()
