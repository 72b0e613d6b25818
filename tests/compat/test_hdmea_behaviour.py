"""
txpipe.compat.hdmea details: where the share-path defaults come from, the lab's ignored
arguments, the session's lab attributes, and the calls that differ from txpipe's own.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from structlog.testing import capture_logs

import txpipe
from txpipe import synth
from txpipe.compat.hdmea import config
from txpipe.core.step import get_step
from txpipe.compat.hdmea.features import compute_sta
from txpipe.compat.hdmea.io import add_section_time, add_section_time_analog, section_spike_times
from txpipe.compat.hdmea.pipeline import create_session, extract_features, load_recording
from txpipe.errors import ConfigurationError, ParameterError

VARS = ("TXPIPE_PLAYLIST_FILE", "TXPIPE_MOVIE_LENGTH_FILE", "TXPIPE_STIMULI_DIR", "TXPIPE_STIMULUS_CONFIG_DIR", "TXPIPE_CONFIG")


@pytest.fixture()
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No TXPIPE_* variable; the default config file location is an empty folder; cwd is tmp."""
    for v in VARS:
        monkeypatch.delenv(v, raising=False)
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> synth.GroundTruth:
    return synth.make_recording(tmp_path_factory.mktemp("hdmea_b"), seed=5, n_units=4)


@pytest.fixture(scope="module")
def loaded(rec: synth.GroundTruth, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed file after load_recording (copied per test by ``fresh``)."""
    r = txpipe.load_recording(rec.paths["cmcr"], rec.paths["cmtr"], output_dir=tmp_path_factory.mktemp("hdmea_b_out"))
    return Path(r.hdf5_path)


@pytest.fixture()
def fresh(loaded: Path, tmp_path: Path) -> Path:
    out = tmp_path / "work" / loaded.name
    out.parent.mkdir()
    out.write_bytes(loaded.read_bytes())
    return out


# --- configuration ------------------------------------------------------------------------------


def test_missing_setting_names_argument_variable_and_file(clean_env: Path, fresh: Path, rec) -> None:
    before = fresh.read_bytes()
    with pytest.raises(ConfigurationError) as ei:
        add_section_time(hdf5_path=fresh, playlist_name=rec.playlist_name)
    msg = str(ei.value)
    assert "playlist_file_path=" in msg and "TXPIPE_PLAYLIST_FILE" in msg and "playlist_file" in msg
    assert str(clean_env / "txpipe" / "config.toml") in msg
    with pytest.raises(ConfigurationError, match="TXPIPE_STIMULI_DIR"):
        compute_sta(fresh)
    assert fresh.read_bytes() == before  # failed before any work


def test_precedence_argument_then_environment_then_file(clean_env: Path, tmp_path: Path, monkeypatch) -> None:
    cfg = clean_env / "txpipe" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('[hdmea]\nplaylist_file = "lists/playlist.csv"\nstimuli_dir = "/abs/stimuli"\n')
    # file: relative paths are relative to the config file's folder
    assert config.resolve("playlist_file", None, function="f", argument="a") == str(cfg.parent / "lists" / "playlist.csv")
    assert config.lookup("stimuli_dir") == "/abs/stimuli"
    assert config.lookup("movie_length_file") is None
    # environment beats the file
    monkeypatch.setenv("TXPIPE_PLAYLIST_FILE", str(tmp_path / "env.csv"))
    assert config.lookup("playlist_file") == str(tmp_path / "env.csv")
    # the argument beats both
    assert config.resolve("playlist_file", "given.csv", function="f", argument="a") == "given.csv"
    # TXPIPE_CONFIG names another file
    other = tmp_path / "other.toml"
    other.write_text('[hdmea]\nmovie_length_file = "/x/movie_length.csv"\n')
    monkeypatch.setenv("TXPIPE_CONFIG", str(other))
    assert config.config_file() == other and config.lookup("movie_length_file") == "/x/movie_length.csv"
    assert config.lookup("stimuli_dir") is None


@pytest.mark.parametrize("text,match", [
    ('[hdmea]\nplaylist = "x.csv"\n', "unknown key"),
    ('[hdmea]\nplaylist_file = 3\n', "must be a non-empty string"),
    ('[hdmea\n', "cannot read"),
])
def test_bad_config_file_is_a_clear_error(clean_env: Path, tmp_path: Path, monkeypatch, text: str, match: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    monkeypatch.setenv("TXPIPE_CONFIG", str(p))
    with pytest.raises(ConfigurationError, match=match) as ei:
        config.lookup("playlist_file")
    assert str(p) in str(ei.value)


def test_txpipe_config_naming_a_missing_file_is_an_error(clean_env: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TXPIPE_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigurationError, match="does not exist"):
        config.lookup("playlist_file")


def test_config_file_drives_a_whole_lab_call(clean_env: Path, fresh: Path, rec) -> None:
    cfg = clean_env / "txpipe" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'[hdmea]\nplaylist_file = "{rec.paths["playlist"]}"\nmovie_length_file = "{rec.paths["movie_length"]}"\n')
    assert add_section_time(hdf5_path=fresh, playlist_name=rec.playlist_name) is True
    with h5py.File(fresh, "r") as f:
        assert sorted(f["stimulus/section_time"]) == sorted(rec.movies)


def test_stimulus_config_dir_defaults_to_the_shipped_configs(clean_env: Path, fresh: Path, rec) -> None:
    """Unset, the lab's shipped configs are used: the synthetic demo movies are not among them."""
    add_section_time(hdf5_path=fresh, playlist_name=rec.playlist_name, playlist_file_path=rec.paths["playlist"],
                     movie_length_file_path=rec.paths["movie_length"])
    with pytest.raises(txpipe.errors.InputFileError, match="step_up_demo"):
        section_spike_times(hdf5_path=fresh)
    r = section_spike_times(hdf5_path=fresh, movie_names=["baseline_127"])  # shipped with txpipe
    assert r.movies_processed == ["baseline_127"] and r.units_processed == 4


# --- ignored and deprecated lab arguments ---------------------------------------------------------


def test_trial_repeats_other_than_3_warns_and_changes_nothing(clean_env: Path, fresh: Path, rec) -> None:
    add_section_time(hdf5_path=fresh, playlist_name=rec.playlist_name, playlist_file_path=rec.paths["playlist"],
                     movie_length_file_path=rec.paths["movie_length"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = section_spike_times(hdf5_path=fresh, config_dir=rec.paths["stimuli_dir"], trial_repeats=3)
    with h5py.File(fresh, "r") as f:
        before = f["units/unit_001/spike_times_sectioned/step_up_demo/full_spike_times"][:]
    with pytest.warns(DeprecationWarning, match="trial_repeats"), capture_logs() as logs:
        b = section_spike_times(hdf5_path=fresh, config_dir=rec.paths["stimuli_dir"], trial_repeats=1, force=True)
    assert (a.trial_repeats, b.trial_repeats) == (3, 1) and a.units_processed == b.units_processed
    with h5py.File(fresh, "r") as f:
        np.testing.assert_array_equal(f["units/unit_001/spike_times_sectioned/step_up_demo/full_spike_times"][:], before)
    assert [e["argument"] for e in logs if e["event"] == "hdmea_argument_ignored"] == ["trial_repeats"]


def test_ignored_arguments_are_logged_only_off_their_lab_default(clean_env: Path, rec, tmp_path: Path) -> None:
    with capture_logs() as logs:
        load_recording(rec.paths["cmcr"], rec.paths["cmtr"], output_dir=tmp_path / "a", config=None)
        load_recording(rec.paths["cmcr"], rec.paths["cmtr"], output_dir=tmp_path / "a", config={"x": 1}, allow_overwrite=True)
    notes = [e for e in logs if e["event"] == "hdmea_argument_ignored"]
    assert [(e["function"], e["argument"]) for e in notes] == [("load_recording", "config")]
    assert notes[0]["log_level"] == "info"


def test_allow_overwrite_acts_like_force(clean_env: Path, rec, tmp_path: Path) -> None:
    first = load_recording(rec.paths["cmcr"], rec.paths["cmtr"], output_dir=tmp_path)
    second = load_recording(rec.paths["cmcr"], rec.paths["cmtr"], output_dir=tmp_path)  # same inputs: cached
    assert second.hdf5_path == first.hdf5_path and any("cached" in w for w in second.warnings)
    # a file made with other parameters is not reused, and not replaced without force/allow_overwrite
    txpipe.load_recording(rec.paths["cmcr"], rec.paths["cmtr"], output_dir=tmp_path, force=True, frame_threshold=0.2)
    with pytest.raises(FileExistsError):
        load_recording(rec.paths["cmcr"], rec.paths["cmtr"], output_dir=tmp_path)
    third = load_recording(rec.paths["cmcr"], rec.paths["cmtr"], output_dir=tmp_path, allow_overwrite=True)
    assert third.warnings == [] and third.num_units == 4
    default = get_step("load_recording").params.defaults["frame_threshold"]
    assert txpipe.PipelineSession.load(third.hdf5_path).journal[-1].params["frame_threshold"] == default != 0.2


# --- the session's lab attributes -------------------------------------------------------------------


def test_session_units_mapping_is_read_only_and_complete(clean_env: Path, rec) -> None:
    s = create_session(cmcr_path=rec.paths["cmcr"], cmtr_path=rec.paths["cmtr"], output_dir="out")
    assert s.dataset_id == rec.dataset_id  # from the CMTR stem, trailing "-" stripped
    s = load_recording(session=s)  # the paths remembered by create_session
    assert s.unit_count == 4 and list(s.units) == [f"unit_{u.unit_num:03d}" for u in rec.units]
    u = s.units["unit_001"]
    np.testing.assert_array_equal(u["spike_times"], rec.units[0].spike_samples)
    assert u["row"] == rec.units[0].row and u["col"] == rec.units[0].col and "row" in u and "spike_times" in u
    with pytest.raises(TypeError):
        s.units["unit_001"] = {}  # type: ignore[index]
    with pytest.raises(KeyError):
        s.units["unit_999"]
    with pytest.raises((TypeError, ValueError)):
        u["spike_times"][0] = 1
    assert s.source_files == {"cmcr_path": Path(rec.paths["cmcr"]).absolute(), "cmtr_path": Path(rec.paths["cmtr"]).absolute()}
    assert s.metadata["acquisition_rate"] == rec.fs_hz
    np.testing.assert_array_equal(s.metadata["frame_timestamps"], rec.frame_onsets)
    assert set(s.stimulus["light_reference"]) >= {"raw_ch1", "raw_ch2"}
    # memory_estimate_gb is the session's held bytes in GiB
    assert s.memory_estimate_gb == pytest.approx(s.nbytes / 2**30) and s.nbytes >= 2 * 4 * rec.n_samples  # two float32 light-reference channels at least


def test_session_save_follows_the_lab_overwrite_rule(clean_env: Path, rec) -> None:
    s = load_recording(rec.paths["cmcr"], rec.paths["cmtr"], session=create_session(output_dir="out"))
    p = s.save()
    assert p == (Path("out") / f"{rec.dataset_id}.h5").absolute() and s.is_saved
    # a second session cannot replace that file unless asked (the lab's default overwrite=False)
    t = load_recording(rec.paths["cmcr"], rec.paths["cmtr"], session=create_session(output_dir="out"))
    with pytest.raises(FileExistsError):
        t.save()
    assert t.save(overwrite=True) == p
    # the session's own file is always updated
    t = extract_features(features=["frif"], session=t)
    assert t.save() == p and "extract_features" in t.completed_steps


def test_warnings_collect_step_notes(clean_env: Path, rec) -> None:
    s = load_recording(rec.paths["cmcr"], rec.paths["cmtr"], session=create_session())
    assert s.warnings == []
    # onsets 2 s apart, thinned to one per 0.8 x plot_duration: one onset where 3 are asked
    s = add_section_time_analog(threshold_value=3e4, plot_duration=10.0, repeat=3, session=s)
    assert s.warnings == ["repeat=3 asked, only 1 onset(s) found"]
    assert np.asarray(s.state["stimulus/section_time/iprgc_test"]).shape == (1, 2)
    s.discard()


# --- calls that differ from txpipe's own -----------------------------------------------------------


def test_extract_features_reports_unknown_names_like_the_lab(clean_env: Path, fresh: Path) -> None:
    with capture_logs() as logs:
        r = extract_features(fresh, ["frif", "step_up_5s_5i_3x"])
    assert r.features_extracted == ["frif"] and r.features_failed == ["step_up_5s_5i_3x"]
    assert any("step_up_5s_5i_3x" in w for w in r.warnings)
    assert [e["feature"] for e in logs if e["event"] == "hdmea_unknown_feature"] == ["step_up_5s_5i_3x"]
    again = extract_features(fresh, ["frif"])  # cached: skipped, as the lab reports it
    assert (again.features_extracted, again.features_skipped) == ([], ["frif"])
    forced = extract_features(fresh, ["frif"], force=True)
    assert (forced.features_extracted, forced.features_skipped) == (["frif"], [])
    nothing = extract_features(fresh, ["cell_type_classifier"])
    assert (nothing.features_extracted, nothing.features_failed) == ([], ["cell_type_classifier"])


def test_config_overrides_go_to_the_features_that_declare_them(clean_env: Path, fresh: Path, rec) -> None:
    add_section_time(hdf5_path=fresh, playlist_name=rec.playlist_name, playlist_file_path=rec.paths["playlist"],
                     movie_length_file_path=rec.paths["movie_length"])
    section_spike_times(hdf5_path=fresh, config_dir=rec.paths["stimuli_dir"])
    known = txpipe.features.get_extractor("baseline_127").defaults
    key = sorted(known)[0]
    extract_features(fresh, ["frif", "baseline_127"], config_overrides={key: known[key]})
    s = txpipe.PipelineSession.load(fresh)
    assert s.journal[-1].params["params"] == {"baseline_127": {key: known[key]}}
    with pytest.raises(ParameterError, match="start_time_us"):
        extract_features(fresh, ["frif"], config_overrides={"start_time_us": 0})
    # features=None: txpipe's default features, each given the keys it declares
    extract_features(fresh, config_overrides={key: known[key]}, force=True)
    s = txpipe.PipelineSession.load(fresh)
    assert s.journal[-1].params["features"] is None
    assert s.journal[-1].params["params"] == {"baseline_127": {key: known[key]}}


def test_load_recording_needs_both_files(clean_env: Path, rec) -> None:
    with pytest.raises(ConfigurationError, match="cmtr_path"):
        load_recording(cmcr_path=rec.paths["cmcr"])
    with pytest.raises(TypeError, match="create_session"):
        load_recording(rec.paths["cmcr"], rec.paths["cmtr"], session="not a session")


def test_plain_txpipe_session_accepted(clean_env: Path, rec) -> None:
    """session= may be any txpipe session, e.g. one from pipeline_session()."""
    with txpipe.pipeline_session("plain.h5") as s:
        assert load_recording(rec.paths["cmcr"], rec.paths["cmtr"], session=s) is s
        assert compute_sta is not None
    with h5py.File("plain.h5", "r") as f:
        assert len(f["units"]) == 4


def test_loaded_session_keeps_the_lab_attributes(clean_env: Path, rec) -> None:
    """After save and load the step names are str (the lab's came back as bytes, failing every check)."""
    from txpipe.compat.hdmea.pipeline import PipelineSession

    s = load_recording(rec.paths["cmcr"], rec.paths["cmtr"], session=create_session(output_dir="out"))
    s = add_section_time(playlist_name=rec.playlist_name, playlist_file_path=rec.paths["playlist"],
                         movie_length_file_path=rec.paths["movie_length"], session=s)
    p = s.save()
    back = PipelineSession.load(p)
    assert isinstance(back, PipelineSession) and back.is_saved and back.hdf5_path == p
    assert back.completed_steps == {"load_recording", "add_section_time"} and "load_recording" in back.completed_steps
    assert back.unit_count == 4 and list(back.units) == list(s.units)
    np.testing.assert_array_equal(back.units["unit_002"]["spike_times"], s.units["unit_002"]["spike_times"])
    back = section_spike_times(config_dir=rec.paths["stimuli_dir"], session=back)  # writes through to its file
    assert PipelineSession.load(p).completed_steps == {"load_recording", "add_section_time", "section_spike_times"}


def test_force_guards_classic_calls_only(clean_env: Path, fresh: Path, rec) -> None:
    kw = dict(playlist_name=rec.playlist_name, playlist_file_path=rec.paths["playlist"],
              movie_length_file_path=rec.paths["movie_length"])
    assert add_section_time(hdf5_path=fresh, **kw) is True
    before = fresh.read_bytes()
    with pytest.raises(FileExistsError, match="force=True"):
        add_section_time(hdf5_path=fresh, **kw)
    assert fresh.read_bytes() == before
    assert add_section_time(hdf5_path=fresh, force=True, **kw) is True
    s = txpipe.PipelineSession.load(fresh, defer=True)
    assert add_section_time(session=s, **kw) is s  # the session recomputes, as documented
    assert [e.step for e in s.journal].count("add_section_time") == 3
    s.discard()


def test_ensure_saved_takes_the_labs_default_path(clean_env: Path, rec, tmp_path: Path) -> None:
    s = load_recording(rec.paths["cmcr"], rec.paths["cmtr"], session=create_session(output_dir="out"))
    with capture_logs() as logs:
        p = s.ensure_saved(tmp_path / "here.h5")
    assert p == (tmp_path / "here.h5").absolute() and s.is_saved and p.exists()
    assert [e["path"] for e in logs if e["event"] == "implicit_save"] == [str(p)]
    with capture_logs() as logs:
        assert s.ensure_saved() == p  # already saved: nothing written
    assert not [e for e in logs if e["event"] in ("implicit_save", "commit")]


def test_large_session_logs_the_labs_memory_warning(clean_env: Path, rec, monkeypatch) -> None:
    from txpipe.compat.hdmea.pipeline import session as lab_session

    with capture_logs() as logs:
        s = load_recording(rec.paths["cmcr"], rec.paths["cmtr"], session=create_session())
    assert not [e for e in logs if e["event"] == "hdmea_memory"]
    monkeypatch.setattr(lab_session, "MEMORY_WARNING_GB", s.memory_estimate_gb / 2)
    with capture_logs() as logs:
        load_recording(rec.paths["cmcr"], rec.paths["cmtr"], session=s)
    (w,) = [e for e in logs if e["event"] == "hdmea_memory"]
    assert w["log_level"] == "warning" and w["memory_gb"] == pytest.approx(s.memory_estimate_gb, abs=1e-3)
    s.discard()


def test_unknown_feature_in_a_session_is_a_session_warning(clean_env: Path, rec) -> None:
    s = load_recording(rec.paths["cmcr"], rec.paths["cmtr"], session=create_session())
    s = extract_features(features=["frif", "green_blue_3s_3i_3x"], session=s)
    assert "extract_features" in s.completed_steps and "frif" in s.units["unit_001"]["features"]
    assert [w for w in s.warnings if "green_blue_3s_3i_3x" in w] and len(s.warnings) == 1
    s = extract_features(features=["green_blue_3s_3i_3x"], session=s)  # nothing runnable: no step, a warning
    assert [e.step for e in s.journal].count("extract_features") == 1 and len(s.warnings) == 2
    s.discard()
