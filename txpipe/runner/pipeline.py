"""
The whole pipeline on one recording, from a :class:`RunConfig`.

``txpipe demo``, ``txpipe run`` and every task of ``txpipe batch`` call :func:`run_pipeline`. It
turns the configuration into a *plan* — the ordered list of steps and their exact parameters
(:func:`build_plan`) — and applies it in one :func:`~txpipe.pipeline_session`: deferred by default
(one atomic commit at the end), or immediate (a commit after every step, ``--immediate``), with
an optional checkpoint file after a named step. The plan is also what ``txpipe batch`` compares
with an existing output's journal to decide whether the recording is already done.

Input side files default to the lab's layout beside the ``.cmcr``: ``playlist.csv``,
``movie_length.csv`` and ``stimuli/`` (stimulus JSON configs and the dense-noise ``.npy``).
"""

from __future__ import annotations

import importlib
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import structlog

from txpipe.core.compression import compression
from txpipe.core.relocate import changed_inputs, params_match_but_paths
from txpipe.errors import ConfigurationError, UndoError
from txpipe.core.journal import encode_param
from txpipe.mcs.playlist import read_playlists
from txpipe.core import store
from txpipe.core.dataset_id import dataset_id_for
from txpipe.core.session import PipelineSession, partial_path, pipeline_session
from txpipe.core.store import same_file
from txpipe.core.step import get_step
from txpipe.mcs.movies import noise_movie, step_movie
from txpipe.runner.progress import ProgressBar, unit_progress
from txpipe.synth import make_recording
from txpipe.mcs.stimulus_config import load_configs
from txpipe.steps.add_section_time import playlist_movies
from txpipe.steps.compute_eimage_sta import check_sensor_stream
from txpipe.steps.compute_sta import check_movie_file

PIPELINE_STEPS = (
    "load_recording",
    "add_section_time",
    "section_spike_times",
    "compute_sta",
    "extract_features",
)
"""The built-in steps :func:`build_plan` runs, in order (the one list; the CLI asks it)."""


@dataclass(frozen=True)
class PlannedStep:
    """One step of a plan: the registered step name and its exact parameters."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def key(self) -> tuple[str, str, Any]:
        """``(name, version, canonical params)``: what a journal entry must match to count as done."""
        st = get_step(self.name)
        return (self.name, st.version, encode_param(st.canonical_params(self.params)))


@dataclass(frozen=True)
class RunConfig:
    """
    Everything needed to process one recording.

    Attributes:
        cmcr, cmtr: the raw and spike-sorter files.
        out: the output HDF5 file (committed atomically).
        dataset_id: default: the ``.cmtr`` stem without trailing ``-``.
        playlist: playlist name in *playlist_file*; default: its only playlist.
        playlist_file, movie_length_file: the lab's CSVs; default: beside the ``.cmcr``.
        stimuli_dir: stimulus JSON configs and noise movies; default ``stimuli/`` beside the ``.cmcr``.
        pad_margin: seconds kept before and after each trial, ``(pre_s, post_s)``; None: the
            step's default.
        cover_range: STA window in display frames, ``(start, stop)``; None: the step's default.
        features: extractor names; None: the step's default set.
        steps: the built-in steps to run, a prefix-closed subset of :data:`PIPELINE_STEPS`
            (default: all).
        custom_plan: run exactly these steps instead of the built-in plan (custom pipelines
            and tests); *plugins* are modules to import first so their steps are registered.
        checkpoint_after: also commit a checkpoint file (:func:`checkpoint_path`) right after
            this step.
        resume_from: a checkpoint (or earlier output) of this run: its journal must be a prefix of
            the plan (same steps, versions and parameters); only the remaining steps run.
        eimage: also compute each unit's electrical image from the raw sensor stream right
            after ``load_recording`` (step ``compute_eimage_sta``, its default parameters).
        eimage_seconds: the electrical image's analysis window (s); None: the step's default.
        defer: True: one commit at the end; False: a commit after every step (to
            ``NAME.partial.h5`` while an existing *out* is kept until the run succeeds).
        overwrite: replace an existing *out* (WARNING ``overwrite``); False raises FileExistsError.
        compress: gzip level (1-9) for the arrays of every commit, or None (the default) for none
            (:mod:`txpipe.core.compression`; same content, smaller file, slower commit).
        force_overwrite_foreign: replace *out* even if it exists and is not a txpipe file. An
            input of the run is never replaced.
    """

    cmcr: Path
    cmtr: Path
    out: Path
    dataset_id: str | None = None
    playlist: str | None = None
    playlist_file: Path | None = None
    movie_length_file: Path | None = None
    stimuli_dir: Path | None = None
    pad_margin: tuple[float, float] | None = None
    cover_range: tuple[int, int] | None = None
    features: tuple[str, ...] | None = None
    steps: tuple[str, ...] = PIPELINE_STEPS
    custom_plan: tuple[PlannedStep, ...] | None = None
    plugins: tuple[str, ...] = ()
    checkpoint_after: str | None = None
    resume_from: Path | None = None
    eimage: bool = False
    eimage_seconds: float | None = None
    defer: bool = True
    overwrite: bool = True
    compress: int | None = None
    force_overwrite_foreign: bool = False

    def resolved_dataset_id(self) -> str:
        """The dataset id: given, else the ``.cmtr`` stem without trailing ``-``."""
        return dataset_id_for(self.cmtr, self.dataset_id)

    def with_out(self, out: str | os.PathLike[str]) -> "RunConfig":
        return replace(self, out=Path(out))


@dataclass(frozen=True)
class RunResult:
    """What :func:`run_pipeline` did."""

    path: Path
    dataset_id: str
    steps: tuple[str, ...]
    n_units: int
    sections: tuple[str, ...]
    sta_units: int
    bytes: int
    seconds: float
    checkpoint: Path | None = None
    eimage_units: int = 0


def _only_playlist(playlist_file: Path, playlists: dict[str, tuple[str, ...]]) -> str:
    """The single playlist name in a lab ``playlist.csv`` (*playlists*: its parsed content)."""
    names = list(playlists)
    if len(names) != 1:
        found = ", ".join(names) if names else "none"
        raise ConfigurationError(f"{playlist_file}: give --playlist NAME (playlists found: {found})")
    return names[0]


def build_plan(cfg: RunConfig) -> tuple[PlannedStep, ...]:
    """
    The ordered steps and exact parameters :func:`run_pipeline` applies for *cfg*.

    Every parameter of every step is canonicalised against the step's declaration (defaults
    filled in, paths absolute, values checked), so a plan's parameters are exactly what a session
    journals for the same call through the session API or the classic functions, and the batch
    skip check does not depend on the working directory.

    Raises:
        ConfigurationError: an unknown step in ``cfg.steps``, or no playlist name can be chosen.
        InputFileError: the playlist file cannot be read when the name must come from it.
    """
    if cfg.custom_plan is not None:
        return tuple(cfg.custom_plan)
    unknown = [s for s in cfg.steps if s not in PIPELINE_STEPS]
    if unknown:
        raise ConfigurationError(f"unknown step(s) {unknown}; the pipeline steps are {list(PIPELINE_STEPS)}")
    here = Path(cfg.cmcr).expanduser().absolute().parent
    playlist_file = Path(cfg.playlist_file) if cfg.playlist_file else here / "playlist.csv"
    movie_length_file = Path(cfg.movie_length_file) if cfg.movie_length_file else here / "movie_length.csv"
    stimuli_dir = Path(cfg.stimuli_dir) if cfg.stimuli_dir else here / "stimuli"
    given: dict[str, dict[str, Any]] = {
        "load_recording": {"cmcr_path": cfg.cmcr, "cmtr_path": cfg.cmtr, "dataset_id": cfg.dataset_id},
        "section_spike_times": {"config_dir": stimuli_dir},
        "compute_sta": {"stimuli_dir": stimuli_dir},
        "extract_features": {"features": None if cfg.features is None else list(cfg.features)},
    }
    if "add_section_time" in cfg.steps:
        playlist = cfg.playlist or _only_playlist(playlist_file, read_playlists(playlist_file))
        given["add_section_time"] = {"playlist_name": playlist, "playlist_file": playlist_file,
                                     "movie_length_file": movie_length_file}
    if cfg.pad_margin is not None:
        given["section_spike_times"]["pad_margin"] = cfg.pad_margin
    if cfg.cover_range is not None:
        given["compute_sta"]["cover_range"] = cfg.cover_range
    names = [n for n in PIPELINE_STEPS if n in cfg.steps]
    if (cfg.eimage or cfg.eimage_seconds is not None) and "load_recording" in names:
        names.insert(names.index("load_recording") + 1, "compute_eimage_sta")
        given["compute_eimage_sta"] = {} if cfg.eimage_seconds is None else {"duration_s": cfg.eimage_seconds}
    return tuple(PlannedStep(name, get_step(name).canonical_params(given[name])) for name in names)


def check_plan(plan: tuple[PlannedStep, ...]) -> None:
    """
    Everything about a plan that can be checked before its first step (a few milliseconds):
    each step's parameters and preflight (:meth:`~txpipe.core.step.Step.check`: input
    files exist, the playlist is in the playlist file, feature names are registered), then the
    movies the later steps will need: a stimulus config for every playlist movie, the dense-noise
    movie's ``.npy``, a step movie when ``step_response`` is asked for by name, a sensor stream
    in the ``.cmcr`` when the electrical image is planned.

    Raises:
        TxpipeError, FileNotFoundError: the first problem found, naming the file or parameter.
    """
    by_name = {p.name: get_step(p.name).check(p.params) for p in plan}
    if "compute_eimage_sta" in by_name and "load_recording" in by_name:
        check_sensor_stream(by_name["load_recording"]["cmcr_path"])
    if "add_section_time" not in by_name:
        return
    movies = list(playlist_movies(by_name["add_section_time"]))
    sst = by_name.get("section_spike_times")
    if sst is not None and sst["movie_names"] is None:
        load_configs(movies, sst["config_dir"])
    sta = by_name.get("compute_sta")
    if sta is not None:
        check_movie_file(sta["stimuli_dir"], sta["movie"] or noise_movie(movies))
    ef = by_name.get("extract_features")
    if ef is not None and ef["features"] is not None and "step_response" in ef["features"]:
        if (ef["params"] or {}).get("step_response", {}).get("movie") is None and step_movie(movies) is None:
            raise ConfigurationError(
                f"feature 'step_response': no single step movie in the playlist {movies}; "
                "pass params={'step_response': {'movie': NAME}} or leave step_response out"
            )


def import_plugins(modules: tuple[str, ...] | list[str]) -> None:
    """Import modules that register custom steps (``--plugin``); errors name the module."""
    for mod in modules:
        try:
            importlib.import_module(mod)
        except ImportError as exc:
            raise ConfigurationError(f"cannot import plugin module {mod!r}: {exc}") from exc


def checkpoint_path(cfg: RunConfig, step_name: str) -> Path:
    """Where ``checkpoint_after=step_name`` writes: ``{out stem}.after-{step}.h5`` beside *out*."""
    out = Path(cfg.out)
    return out.with_name(f"{out.stem}.after-{step_name}{out.suffix or '.h5'}")


def check_options(
    *,
    features: tuple[str, ...] | list[str] | None = None,
    pad_margin: tuple[float, float] | None = None,
    cover_range: tuple[int, int] | None = None,
    eimage_seconds: float | None = None,
    **_: Any,
) -> None:
    """Check run options that do not depend on a recording (``txpipe batch`` checks them once,
    before looking at any recording).

    Raises:
        ConfigurationError, ParameterError: an unknown feature, a bad margin or window.
    """
    if features is not None:
        get_step("extract_features").check({"features": list(features)})
    if pad_margin is not None:
        get_step("section_spike_times").canonical_params({"pad_margin": pad_margin})
    if cover_range is not None:
        get_step("compute_sta").canonical_params({"cover_range": cover_range})
    if eimage_seconds is not None:
        get_step("compute_eimage_sta").canonical_params({"duration_s": eimage_seconds})


def prepare(cfg: RunConfig) -> tuple[PlannedStep, ...]:
    """
    The plan of *cfg*, checked as far as it can be before any step runs (:func:`check_plan`).

    Raises:
        TxpipeError, FileNotFoundError: a bad parameter or input, with one clear message.
    """
    if cfg.custom_plan is None:
        for what, p in (("recording (.cmcr)", cfg.cmcr), ("spike-sorter file (.cmtr)", cfg.cmtr)):
            if not Path(p).is_file():
                raise FileNotFoundError(f"{p}: no such {what}")
    store.check_target(Path(cfg.out).expanduser().absolute(), _run_inputs(cfg),
                       force_overwrite_foreign=cfg.force_overwrite_foreign)  # never an input; foreign only if forced
    plan = build_plan(cfg)
    if not plan:
        raise ConfigurationError("nothing to run: the plan has no steps")
    names = [p.name for p in plan]
    for n in names:
        get_step(n)  # UnknownStepError before any work
    if cfg.checkpoint_after is not None and cfg.checkpoint_after not in names:
        raise ConfigurationError(f"--checkpoint-after {cfg.checkpoint_after!r} is not one of the planned steps {names}")
    if cfg.resume_from is not None and not Path(cfg.resume_from).is_file():
        raise FileNotFoundError(f"{cfg.resume_from}: no such checkpoint (--resume-from)")
    check_plan(plan)
    return plan


def run_pipeline(cfg: RunConfig) -> RunResult:
    """
    Apply the plan of *cfg* to its recording and commit the result to ``cfg.out``.

    Nothing is written to ``cfg.out`` unless every step succeeds (deferred mode); in immediate
    mode each step is committed as it finishes. Returns a :class:`RunResult`.

    Raises:
        TxpipeError: a step failed (the output keeps its previous content or stays absent).
        FileExistsError: ``cfg.out`` exists and ``cfg.overwrite`` is False.
    """
    with compression(cfg.compress):
        return _run_pipeline(cfg)


def _run_pipeline(cfg: RunConfig) -> RunResult:
    import_plugins(cfg.plugins)
    plan = prepare(cfg)
    names = [p.name for p in plan]
    steps = [get_step(n) for n in names]
    dataset_id = cfg.resolved_dataset_id()
    out = Path(cfg.out).expanduser().absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    log = structlog.get_logger("txpipe").bind(dataset_id=dataset_id)
    log.info("run_started", path=str(out), steps=names, defer=cfg.defer)
    t0 = time.perf_counter()
    ckpt: Path | None = None
    if cfg.resume_from is not None:
        s = _resume(cfg, plan)
        n_done = len(s.journal)
        if out.exists() and not cfg.overwrite and out != s.hdf5_path:
            raise FileExistsError(f"{out}: exists and overwrite=False")
        log.info("run_resumed", path=str(cfg.resume_from), steps_done=names[:n_done])
        keep = out.exists() and not same_file(out, cfg.resume_from)  # immediate: OUT kept until the run succeeds
        step_target = partial_path(out) if keep else out
        force = cfg.force_overwrite_foreign
        s.progress = unit_progress
        with ProgressBar(total=len(plan), desc=dataset_id, unit="step") as bar:
            bar.update(n_done)
            for planned, st in list(zip(plan, steps))[n_done:]:
                bar.update(0, postfix=planned.name)
                s.run(st, **planned.params)
                bar.update(1)
                if not cfg.defer:
                    s.save(step_target, force_overwrite_foreign=force)
                if planned.name == cfg.checkpoint_after:
                    ckpt = s.checkpoint(checkpoint_path(cfg.with_out(out), planned.name), checkpoint_name=planned.name)
            bar.update(0, postfix="commit")
            s.save(out, force_overwrite_foreign=force)
        if step_target != out:
            step_target.unlink(missing_ok=True)
        result = _result(s, out, names, ckpt)
        s.close()
    else:
        with pipeline_session(out, defer=cfg.defer, overwrite=cfg.overwrite, dataset_id=dataset_id,
                              force_overwrite_foreign=cfg.force_overwrite_foreign,
                              progress=unit_progress) as s, ProgressBar(total=len(plan), desc=dataset_id, unit="step") as bar:
            for planned, st in zip(plan, steps):
                bar.update(0, postfix=planned.name)
                s.run(st, **planned.params)
                bar.update(1)
                if planned.name == cfg.checkpoint_after:
                    ckpt = s.checkpoint(checkpoint_path(cfg.with_out(out), planned.name), checkpoint_name=planned.name)
            bar.update(0, postfix="commit")
            result = _result(s, out, names, ckpt)
    seconds = time.perf_counter() - t0
    result = replace(result, bytes=out.stat().st_size, seconds=seconds)
    log.info("run_finished", path=str(out), seconds=round(seconds, 3), bytes=result.bytes)
    return result


def _run_inputs(cfg: RunConfig) -> list[tuple[str, Path]]:
    """The files a run reads (``(what, path)``), which its output must never replace."""
    named = [("recording (.cmcr)", cfg.cmcr), ("spike-sorter file (.cmtr)", cfg.cmtr),
             ("playlist file", cfg.playlist_file), ("movie-length file", cfg.movie_length_file)]
    return [(what, Path(p)) for what, p in named if p is not None]


def _resume(cfg: RunConfig, plan: tuple[PlannedStep, ...]) -> PipelineSession:
    """
    Load ``cfg.resume_from`` (lazily, deferred) after checking that its journal is a prefix of
    *plan* (same steps, versions and parameters; paths may differ when the files they name hold
    the same content). Steps whose recorded input files changed since are redone: the session is
    rolled back to before the first of them (or started afresh when that cannot be undone).
    """
    s = PipelineSession.load(Path(cfg.resume_from), defer=True)  # type: ignore[arg-type]
    done = s.journal
    if len(done) > len(plan):
        raise ConfigurationError(f"{cfg.resume_from}: has {len(done)} steps, more than the {len(plan)} planned")
    for e, planned in zip(done, plan):
        name, version, params = planned.key()
        if (e.step, e.step_version) != (name, version) or not params_match_but_paths(e.params, params):
            raise ConfigurationError(
                f"{cfg.resume_from}: step #{e.seq} is {e.step!r} v{e.step_version} with params {e.params}, "
                f"but this run plans {name!r} v{version} with {params}; cannot resume from it"
            )
    stale = changed_inputs(done, [p.key()[2] for p in plan[: len(done)]])
    if stale:
        first = min(k for k, _ in stale)
        structlog.get_logger("txpipe").warning(
            "resume_inputs_changed", path=str(cfg.resume_from), redone_from=done[first].step,
            changed=[d for _, d in stale][:5])
        try:
            s.undo(len(done) - first)
        except UndoError:  # loaded steps that replaced values cannot be undone: start afresh
            s.discard()
            s = PipelineSession(cfg.resolved_dataset_id())
            s._write_through = False
    return s


def _result(s: PipelineSession, out: Path, names: list[str], ckpt: Path | None) -> RunResult:
    st = s.state
    sections = tuple(st.keys("stimulus/section_time")) if "stimulus/section_time" in st else ()
    sta_units = eimage_units = 0
    for uid in s.units:
        fpath = f"units/{uid}/features"
        if fpath in st and any(k.startswith("sta_") for k in st.keys(fpath)):
            sta_units += 1
        if f"{fpath}/eimage_sta" in st:
            eimage_units += 1
    return RunResult(out, s.dataset_id or "", tuple(names), len(s.units), sections, sta_units, 0, 0.0, ckpt,
                     eimage_units)


def run_demo(out_dir: str | os.PathLike[str], *, defer: bool = True, n_units: int = 8, seed: int = 0) -> tuple[RunResult, Any]:
    """
    ``txpipe demo``: write a synthetic recording into ``out_dir/recording/`` (the small default
    protocol: baseline, ON/OFF steps and dense noise) and run the whole pipeline on it.

    Returns:
        The :class:`RunResult` (output ``out_dir/{dataset_id}.h5``) and the recording's
        :class:`~txpipe.synth.GroundTruth`.
    """
    out_dir = Path(out_dir).expanduser().absolute()
    truth = make_recording(out_dir / "recording", n_units=n_units, seed=seed)
    cfg = RunConfig(
        cmcr=Path(truth.paths["cmcr"]),
        cmtr=Path(truth.paths["cmtr"]),
        out=out_dir / f"{truth.dataset_id}.h5",
        defer=defer,
    )
    return run_pipeline(cfg), truth
