"""One pipeline, three entry points: the session API, the classic functions and ``txpipe run``
journal the same steps and parameters and produce the same content; every bad parameter of
``txpipe run``/``batch`` fails before the first step runs."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

import txpipe
from txpipe import synth
from txpipe.core.session import PipelineSession
from txpipe.runner import cli
from txpipe.runner.batch import discover, run_batch


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> synth.GroundTruth:
    return synth.make_recording(tmp_path_factory.mktemp("rec"), n_units=4)


def _journal(path: Path) -> list[tuple]:
    with PipelineSession.load(path) as s:
        return [(e.step, e.step_version, e.params) for e in s.journal]


def _digest(path: Path) -> str:
    with PipelineSession.load(path) as s:
        return s.content_digest()


class TestSamePipelineEverywhere:
    def test_api_classic_and_cli_agree_and_batch_skips(self, rec, tmp_path, monkeypatch) -> None:
        """Same inputs through the three entry points: identical journals (steps, versions, every
        parameter) and content digests; ``txpipe batch`` then finds all three outputs complete."""
        here = Path(rec.paths["cmcr"]).parent
        did = rec.dataset_id
        outs = {k: tmp_path / k / f"{did}.h5" for k in ("api", "classic", "cli")}

        # session API, with paths relative to the recording folder (canonicalisation makes them absolute)
        monkeypatch.chdir(here)
        with txpipe.pipeline_session(outs["api"]) as s:
            s.load_recording(Path(rec.paths["cmcr"]).name, Path(rec.paths["cmtr"]).name)
            s.add_section_time(rec.playlist_name, playlist_file="playlist.csv", movie_length_file="movie_length.csv")
            s.section_spike_times(config_dir="stimuli")
            s.compute_sta(stimuli_dir="stimuli")
            s.extract_features()
        monkeypatch.chdir(tmp_path)

        # classic functions, one commit per step
        r = txpipe.load_recording(rec.paths["cmcr"], rec.paths["cmtr"], output_dir=tmp_path / "classic")
        assert r.hdf5_path == outs["classic"]
        txpipe.add_section_time(r.hdf5_path, rec.playlist_name, playlist_file=here / "playlist.csv",
                                movie_length_file=here / "movie_length.csv")
        txpipe.section_spike_times(r.hdf5_path, config_dir=here / "stimuli")
        txpipe.compute_sta(r.hdf5_path, stimuli_dir=here / "stimuli")
        txpipe.extract_features(r.hdf5_path)

        # the command line
        assert cli.main(["run", rec.paths["cmcr"], rec.paths["cmtr"], "-o", str(outs["cli"]), "-q"]) == 0

        journals = {k: _journal(p) for k, p in outs.items()}
        assert [j[0] for j in journals["api"]] == ["load_recording", "add_section_time", "section_spike_times",
                                                   "compute_sta", "extract_features"]
        assert journals["api"] == journals["classic"] == journals["cli"]
        # every declared parameter is journaled, defaults included
        sst = dict(journals["api"][2][2])
        assert set(sst) == {"pad_margin", "movie_names", "config_dir", "occurrence"}
        ast = dict(journals["api"][1][2])
        assert ast["pad_frame"] == 180 and ast["repeats"] == 1 and ast["lenient"] is False
        digests = {k: _digest(p) for k, p in outs.items()}
        assert digests["api"] == digests["classic"] == digests["cli"]
        with PipelineSession.load(outs["api"]) as s:  # the API run also has the step responses
            assert f"units/{s.units[0]}/features/step_response" in s.state

        for k, p in outs.items():
            report = run_batch(discover(here), p.parent)
            assert [o.status for o in report.outcomes] == ["skipped"], (k, report.table())


# --- every bad parameter fails before the first step -----------------------------------------------


@pytest.fixture()
def no_steps(monkeypatch):
    """Records every step a session starts; the tests assert it stays empty."""
    started: list[str] = []
    real = PipelineSession.run

    def spy(self, fn, /, **params):
        started.append(fn.name)
        return real(self, fn, **params)

    monkeypatch.setattr(PipelineSession, "run", spy)
    return started


def _broken_stimuli(src: Path, dst: Path, drop: str) -> Path:
    shutil.copytree(src, dst)
    for p in dst.glob(drop):
        p.unlink()
    return dst


BAD_RUN = {
    "unknown feature": (["--features", "nope"], "nope"),
    "unknown playlist": (["--playlist", "no_such"], "no_such"),
    "missing playlist file": (["--playlist-file", "{tmp}/none.csv"], "none.csv"),
    "missing movie length file": (["--movie-length-file", "{tmp}/none.csv"], "none.csv"),
    "missing stimuli dir": (["--stimuli-dir", "{tmp}/nowhere"], "nowhere"),
    "stimuli without the noise movie": (["--stimuli-dir", "{nonoise}"], ".npy"),
    "stimuli without a config": (["--stimuli-dir", "{noconfig}"], ".json"),
    "negative margin": (["--pad-margin", "-1", "0"], "pad_margin"),
    "empty STA window": (["--cover-range", "0", "-5"], "cover_range"),
    "bad dataset id": (["--dataset-id", "a/b"], "dataset_id"),
    "missing checkpoint": (["--resume-from", "{tmp}/none.h5"], "none.h5"),
    "missing recording": (["--cmcr", "{tmp}/none.cmcr"], "none.cmcr"),
}


class TestFailsBeforeFirstStep:
    @pytest.mark.parametrize("case", list(BAD_RUN))
    def test_run(self, case, rec, tmp_path, no_steps, capsys) -> None:
        """Each bad option of ``txpipe run``: exit 1, one error line naming the problem, in well
        under a second, no step started, no output."""
        here = Path(rec.paths["cmcr"]).parent
        fmt = {"tmp": str(tmp_path),
               "nonoise": str(_broken_stimuli(here / "stimuli", tmp_path / "s1", "*noise*.npy")) if "noise" in case else "",
               "noconfig": str(_broken_stimuli(here / "stimuli", tmp_path / "s2", "baseline*.json")) if "config" in case else ""}
        opts, needle = BAD_RUN[case]
        opts = [o.format(**fmt) for o in opts]
        cmcr = rec.paths["cmcr"]
        if opts[0] == "--cmcr":
            cmcr, opts = opts[1], opts[2:]
        out = tmp_path / "out.h5"
        t0 = time.perf_counter()
        code = cli.main(["run", str(cmcr), rec.paths["cmtr"], "-o", str(out), "-q", *opts])
        elapsed = time.perf_counter() - t0
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 1
        assert len(err) == 1 and err[0].startswith("txpipe: error:") and needle in err[0], err
        assert no_steps == []
        assert not out.exists()
        assert elapsed < 1.0, f"{case}: failed after {elapsed:.2f} s"

    def test_eimage_without_sensor_stream(self, rec, tmp_path, no_steps, capsys) -> None:
        """``--eimage`` on a recording without raw sensor data fails before the first step."""
        out = tmp_path / "out.h5"
        code = cli.main(["run", rec.paths["cmcr"], rec.paths["cmtr"], "-o", str(out), "-q", "--eimage"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 1 and len(err) == 1 and "sensor stream" in err[0]
        assert no_steps == [] and not out.exists()

    def test_batch_wide_option_fails_once(self, rec, tmp_path, no_steps, capsys) -> None:
        """A bad batch-wide option fails the whole batch with one error before any recording."""
        here = Path(rec.paths["cmcr"]).parent
        t0 = time.perf_counter()
        code = cli.main(["batch", str(here), "-o", str(tmp_path / "out"), "--workers", "1", "-q", "--features", "frif,nope"])
        elapsed = time.perf_counter() - t0
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 1 and len(err) == 1 and "nope" in err[0]
        assert no_steps == [] and elapsed < 1.0

    def test_batch_recording_option_fails_that_recording_first(self, rec, tmp_path, no_steps) -> None:
        """A per-recording problem (a playlist column naming no playlist) fails that recording
        before its first step, with the reason in the report."""
        lst = tmp_path / "list.csv"
        lst.write_text(f"cmcr,cmtr,playlist\n{rec.paths['cmcr']},{rec.paths['cmtr']},no_such\n")
        report = run_batch(discover(lst), tmp_path / "out")
        (o,) = report.outcomes
        assert o.status == "failed" and "no_such" in o.message
        assert no_steps == []
