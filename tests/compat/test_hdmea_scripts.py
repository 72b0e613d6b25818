"""
The lab's two scripts, in their style, run on a synthetic recording through txpipe.compat.hdmea.

``lab_script`` imports only from ``txpipe.compat.hdmea`` and calls the functions with the lab's
keywords: first the classic, save-every-step chain (as the lab's ``pipeline_test.py``), then the
deferred session (as its ``pipeline_session.py``: ``create_session``, ``session=``, ``save()``).
The share-path defaults come from the ``TXPIPE_*`` environment variables, as a lab machine would
configure them. The checks compare the result objects and the written files with the synthetic
recording's ground truth and with plain txpipe calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from structlog.testing import capture_logs

import txpipe
from txpipe import synth


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> synth.GroundTruth:
    return synth.make_recording(tmp_path_factory.mktemp("hdmea_rec"), seed=11)


@pytest.fixture()
def lab_env(rec: synth.GroundTruth, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A lab machine's configuration: the share paths from TXPIPE_* variables, no config file."""
    monkeypatch.setenv("TXPIPE_PLAYLIST_FILE", rec.paths["playlist"])
    monkeypatch.setenv("TXPIPE_MOVIE_LENGTH_FILE", rec.paths["movie_length"])
    monkeypatch.setenv("TXPIPE_STIMULI_DIR", rec.paths["stimuli_dir"])
    monkeypatch.setenv("TXPIPE_STIMULUS_CONFIG_DIR", rec.paths["stimuli_dir"])
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-config"))
    monkeypatch.delenv("TXPIPE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # the lab's default output_dir "artifacts" is relative


def lab_script(cmcr: str, cmtr: str, playlist: str, *, eimage: bool) -> dict[str, Any]:
    """The lab's scripts with only their imports rewritten (and a synthetic recording's paths)."""
    from txpipe.compat.hdmea.pipeline import create_session, load_recording, load_recording_with_eimage_sta, extract_features
    from txpipe.compat.hdmea.pipeline import add_section_time
    from txpipe.compat.hdmea.io import section_spike_times
    from txpipe.compat.hdmea.io.section_time import add_section_time_analog
    from txpipe.compat.hdmea.features import compute_sta

    out: dict[str, Any] = {}
    # --- pipeline_test.py: classic calls, each saving immediately ---
    if eimage:
        result = load_recording_with_eimage_sta(cmcr_path=cmcr, cmtr_path=cmtr, force=True, duration_s=0.5,
                                                spike_limit=10000, window_range=(-10, 40), chunk_duration_s=0.2)
    else:
        result = load_recording(cmcr_path=cmcr, cmtr_path=cmtr, force=True)
    out["load"] = result
    out["extract"] = extract_features(result.hdf5_path, ["frif"], force=True)
    hdf5_path = f"artifacts/{result.dataset_id}.h5"
    out["section_time"] = add_section_time(hdf5_path=hdf5_path, playlist_name=playlist, force=True)
    out["section"] = section_spike_times(hdf5_path=hdf5_path, trial_repeats=3, pad_margin=(0.0, 0.0), force=True)
    out["analog"] = add_section_time_analog(hdf5_path=hdf5_path, threshold_value=3e4, movie_name="iprgc_test",
                                            plot_duration=2.0, repeat=2, force=True)
    out["sta"] = compute_sta(hdf5_path, cover_range=(-60, 0), use_multiprocessing=True, force=True)

    # --- pipeline_session.py: deferred session, one save at the end ---
    session = create_session(dataset_id="session-Rec", output_dir="session_out")
    if eimage:
        session = load_recording_with_eimage_sta(cmcr_path=cmcr, cmtr_path=cmtr, duration_s=0.5, spike_limit=10000,
                                                 window_range=(-10, 40), unit_ids=["2", "7"], session=session)
    else:
        session = load_recording(cmcr_path=cmcr, cmtr_path=cmtr, session=session)
    session = add_section_time(playlist_name=playlist, session=session)
    session = section_spike_times(pad_margin=(0.0, 0.0), session=session)
    session = compute_sta(cover_range=(-60, 0), session=session)
    session = extract_features(features=["frif"], session=session)
    out["units_with_eimage_sta"] = sum(
        1 for u in session.units.values() if "features" in u and "eimage_sta" in u.get("features", {}))
    out["units_with_frif"] = sum(1 for u in session.units.values() if "features" in u and "frif" in u.get("features", {}))
    out["unit_count"] = session.unit_count
    out["memory_estimate_gb"] = session.memory_estimate_gb
    out["deferred_before_save"] = session.is_deferred
    out["session_hdf5_path"] = session.save()
    out["completed_steps"] = session.completed_steps
    out["warnings"] = session.warnings
    out["session"] = session
    out["classic_hdf5_path"] = hdf5_path
    return out


def check_script_results(out: dict[str, Any], rec: synth.GroundTruth, *, eimage: bool) -> None:
    n_units = len(rec.units)
    load = out["load"]
    assert load.dataset_id == rec.dataset_id and load.num_units == n_units and load.stage1_completed is True
    assert Path(load.hdf5_path) == Path(out["classic_hdf5_path"]).absolute()
    ex = out["extract"]
    assert (ex.features_extracted, ex.features_skipped, ex.features_failed) == (["frif"], [], [])
    assert out["section_time"] is True and out["analog"] is True
    sec = out["section"]
    assert sec.success is True and sec.units_processed == n_units and sec.trial_repeats == 3
    assert sorted(sec.movies_processed) == sorted(rec.movies)
    assert sec.pad_margin == (0.0, 0.0) and (sec.pre_samples, sec.post_samples) == (0, 0)
    sta = out["sta"]
    assert sta.movie_name == rec.noise_movie and sta.units_processed == n_units and sta.units_failed == 0
    assert sta.cover_range == (-60, 0) and sta.failed_units == [] and sta.elapsed_seconds > 0

    # the classic file holds every step, in the lab's paths, with the planted truth
    with h5py.File(out["classic_hdf5_path"], "r") as f:
        assert sorted(f["units"]) == sorted(f"unit_{u.unit_num:03d}" for u in rec.units)
        u0 = rec.units[0]
        g = f[f"units/unit_{u0.unit_num:03d}"]
        np.testing.assert_array_equal(g["spike_times"][:], u0.spike_samples)
        assert set(g["features"]) >= {"frif", f"sta_{rec.noise_movie}"}
        assert g[f"features/sta_{rec.noise_movie}/sta"].shape == (60, 15, 15)
        assert sorted(g["spike_times_sectioned"]) == sorted(rec.movies)  # iprgc_test came after sectioning
        st = f["stimulus/section_time"]
        assert set(st) == set(rec.movies) | {"iprgc_test"} and st["iprgc_test"].shape == (2, 2)
        for m, start in zip(rec.movies, rec.content_start_frames):
            assert st[m][0, 0] == rec.frame_onsets[start - 60]  # the lab's section start: content − 60 frames

    # the deferred session: its attributes, then the file it saved
    s = out["session"]
    assert isinstance(s, txpipe.PipelineSession) and out["deferred_before_save"] and s.is_saved
    assert out["unit_count"] == n_units and out["units_with_frif"] == n_units
    assert 0 < out["memory_estimate_gb"] < 1
    assert out["session_hdf5_path"] == (Path("session_out") / "session-Rec.h5").absolute()
    steps = {"load_recording", "add_section_time", "section_spike_times", "compute_sta", "extract_features"}
    if eimage:
        steps |= {"compute_eimage_sta", "load_recording_with_eimage_sta"}
    assert out["completed_steps"] == steps
    assert out["warnings"] == []
    with h5py.File(out["session_hdf5_path"], "r") as f:
        assert f["metadata/dataset_id"][()].decode() == "session-Rec"
        assert set(f["units/unit_001/features"]) >= {"frif", f"sta_{rec.noise_movie}"}
        assert len(f["units"]) == n_units
    # the shim ran txpipe's steps: the same parameters through plain txpipe give the same content
    plain = txpipe.load_recording(out["session"].source_files["cmcr_path"], out["session"].source_files["cmtr_path"],
                                  "session-Rec", defer_save=True)
    if eimage:
        plain.compute_eimage_sta(duration_s=0.5, spike_limit=10000, window_range=(-10, 40), unit_ids=["unit_002", "unit_007"])
    plain.add_section_time(rec.playlist_name, playlist_file=rec.paths["playlist"], movie_length_file=rec.paths["movie_length"],
                           lenient=True)
    plain.section_spike_times(config_dir=rec.paths["stimuli_dir"]).compute_sta(stimuli_dir=rec.paths["stimuli_dir"])
    plain.extract_features(["frif"])
    assert plain.content_digest() == s.content_digest()
    plain.discard()


def test_lab_scripts_run_unchanged(rec: synth.GroundTruth, lab_env: None) -> None:
    with capture_logs() as logs:
        out = lab_script(rec.paths["cmcr"], rec.paths["cmtr"], rec.playlist_name, eimage=False)
    check_script_results(out, rec, eimage=False)
    ignored = {(e["function"], e["argument"]) for e in logs if e["event"] == "hdmea_argument_ignored"}
    assert ignored == {("compute_sta", "force")}  # force=True: txpipe always recomputes the STA


@pytest.fixture(scope="module")
def sensor_rec(tmp_path_factory: pytest.TempPathFactory) -> synth.GroundTruth:
    """A synthetic recording with the raw sensor stream (for the electrical image)."""
    return synth.make_recording(tmp_path_factory.mktemp("hdmea_sensor"), seed=12, sensor_seconds=0.5)


def test_lab_scripts_with_electrical_image(sensor_rec: synth.GroundTruth, lab_env: None, monkeypatch) -> None:
    """The lab's production path: load_recording_with_eimage_sta, classic and with session=."""
    for var, key in (("TXPIPE_PLAYLIST_FILE", "playlist"), ("TXPIPE_MOVIE_LENGTH_FILE", "movie_length"),
                     ("TXPIPE_STIMULI_DIR", "stimuli_dir"), ("TXPIPE_STIMULUS_CONFIG_DIR", "stimuli_dir")):
        monkeypatch.setenv(var, sensor_rec.paths[key])
    out = lab_script(sensor_rec.paths["cmcr"], sensor_rec.paths["cmtr"], sensor_rec.playlist_name, eimage=True)
    check_script_results(out, sensor_rec, eimage=True)
    load = out["load"]
    assert load.units_with_sta == len(sensor_rec.units) and load.filter_time_seconds > 0
    assert load.elapsed_seconds >= load.filter_time_seconds
    assert out["units_with_eimage_sta"] == 2
    window = int(0.5 * sensor_rec.fs_hz)  # duration_s=0.5 of the stream, in samples
    with h5py.File(out["session_hdf5_path"], "r") as f:
        with_image = sorted(u for u in f["units"] if "eimage_sta" in f[f"units/{u}/features"])
        assert with_image == ["unit_002", "unit_007"]  # the lab's unit numbers "2", "7"
        for uid in with_image:
            d = f[f"units/{uid}/features/eimage_sta/data"]
            assert d.shape == (50, 65, 65) and d.dtype == np.float32  # window_range (-10, 40): 50 lags
            truth = next(u for u in sensor_rec.units if f"unit_{u.unit_num:03d}" == uid).spike_samples
            inside = int(np.count_nonzero((truth - 10 >= 0) & (truth + 40 <= window)))
            assert d.attrs["n_spikes"] == inside > 0
