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

from txpipe.errors import ConfigurationError
from txpipe.core.journal import encode_param
from txpipe.mcs.playlist import read_playlists
from txpipe.core.session import PipelineSession, pipeline_session, validate_dataset_id
from txpipe.core.step import get_step

PIPELINE_STEPS = (
    "load_recording",
    "add_section_time",
    "section_spike_times",
    "compute_sta",
    "extract_features",
)
"""The built-in steps :func:`build_plan` runs, in order."""

DEFAULT_COVER_RANGE = (-60, 0)
"""STA window in display frames relative to the spike's frame (1 s before the spike at 60 Hz)."""


@dataclass(frozen=True)
class PlannedStep:
    """One step of a plan: the registered step name and its exact parameters."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def key(self) -> tuple[str, str, Any]:
        """``(name, version, canonical params)``: what a journal entry must match to count as done."""
        return (self.name, get_step(self.name).version, encode_param(self.params))


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
        pad_margin: seconds kept before and after each trial, ``(pre_s, post_s)``.
        cover_range: STA window in display frames, ``(start, stop)``.
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
        defer: True: one commit at the end; False: a commit after every step.
        overwrite: replace an existing *out* (WARNING ``overwrite``); False raises FileExistsError.
    """

    cmcr: Path
    cmtr: Path
    out: Path
    dataset_id: str | None = None
    playlist: str | None = None
    playlist_file: Path | None = None
    movie_length_file: Path | None = None
    stimuli_dir: Path | None = None
    pad_margin: tuple[float, float] = (0.0, 0.0)
    cover_range: tuple[int, int] = DEFAULT_COVER_RANGE
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

    def resolved_dataset_id(self) -> str:
        """The dataset id: given, else the ``.cmtr`` stem without trailing ``-``."""
        return validate_dataset_id(self.dataset_id or Path(self.cmtr).stem)

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


def _abs(p: str | os.PathLike[str]) -> str:
    return str(Path(p).expanduser().absolute())


def _only_playlist(playlist_file: Path, playlists: dict[str, tuple[str, ...]]) -> str:
    """The single playlist name in a lab ``playlist.csv`` (*playlists*: its parsed content)."""
    names = list(playlists)
    if len(names) != 1:
        found = ", ".join(names) if names else "none"
        raise ConfigurationError(f"{playlist_file}: give --playlist NAME (playlists found: {found})")
    return names[0]


def _step_movie(movies: tuple[str, ...]) -> str | None:
    """The playlist's full-field step movie (the only movie named ``step*``), or None."""
    movies = sorted({m for m in movies if m.lower().startswith("step")})
    return movies[0] if len(movies) == 1 else None


def build_plan(cfg: RunConfig) -> tuple[PlannedStep, ...]:
    """
    The ordered steps and exact parameters :func:`run_pipeline` applies for *cfg*.

    Paths are made absolute, so the journal (and the batch skip check) does not depend on the
    working directory.

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

    parsed: list[dict[str, tuple[str, ...]]] = []

    def _playlists() -> dict[str, tuple[str, ...]]:  # the playlist CSV, read once and only if needed
        if not parsed:
            parsed.append(read_playlists(playlist_file))
        return parsed[0]

    def _playlist() -> str:
        return cfg.playlist or _only_playlist(playlist_file, _playlists())
    movie_length_file = Path(cfg.movie_length_file) if cfg.movie_length_file else here / "movie_length.csv"
    stimuli_dir = Path(cfg.stimuli_dir) if cfg.stimuli_dir else here / "stimuli"
    plan: list[PlannedStep] = []
    for name in PIPELINE_STEPS:
        if name not in cfg.steps:
            continue
        if name == "load_recording":
            params: dict[str, Any] = {"cmcr_path": _abs(cfg.cmcr), "cmtr_path": _abs(cfg.cmtr)}
            if cfg.dataset_id is not None:
                params["dataset_id"] = cfg.dataset_id
            if cfg.eimage or cfg.eimage_seconds is not None:
                plan.append(PlannedStep(name, params))
                plan.append(PlannedStep("compute_eimage_sta", eimage_params(cfg.eimage_seconds)))
                continue
        elif name == "add_section_time":
            playlist = _playlist()
            params = {
                "playlist_name": playlist,
                "playlist_file": _abs(playlist_file),
                "movie_length_file": _abs(movie_length_file),
            }
        elif name == "section_spike_times":
            params = {"pad_margin": tuple(float(x) for x in cfg.pad_margin), "config_dir": _abs(stimuli_dir)}
        elif name == "compute_sta":
            params = {"cover_range": tuple(int(x) for x in cfg.cover_range), "stimuli_dir": _abs(stimuli_dir)}
        else:  # extract_features
            params = {} if cfg.features is None else {"features": list(cfg.features)}
            step_movie = _step_movie(_playlists().get(_playlist(), ()))
            if step_movie is not None and (cfg.features is None or "step_response" in cfg.features):
                params["params"] = {"step_response": {"movie": step_movie}}
        plan.append(PlannedStep(name, params))
    return tuple(plan)


def eimage_params(seconds: float | None) -> dict[str, Any]:
    """The planned ``compute_eimage_sta`` parameters: the step's defaults, *seconds* as the
    analysis window if given (the step module owns the parameters and their checks)."""
    from txpipe.steps.compute_eimage_sta import step_params

    return step_params() if seconds is None else step_params(duration_s=seconds)


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


def run_pipeline(cfg: RunConfig) -> RunResult:
    """
    Apply the plan of *cfg* to its recording and commit the result to ``cfg.out``.

    Nothing is written to ``cfg.out`` unless every step succeeds (deferred mode); in immediate
    mode each step is committed as it finishes. Returns a :class:`RunResult`.

    Raises:
        TxpipeError: a step failed (the output keeps its previous content or stays absent).
        FileExistsError: ``cfg.out`` exists and ``cfg.overwrite`` is False.
    """
    import_plugins(cfg.plugins)
    if cfg.custom_plan is None:
        for what, p in (("recording (.cmcr)", cfg.cmcr), ("spike-sorter file (.cmtr)", cfg.cmtr)):
            if not Path(p).is_file():
                raise FileNotFoundError(f"{p}: no such {what}")
    plan = build_plan(cfg)
    if not plan:
        raise ConfigurationError("nothing to run: the plan has no steps")
    names = [p.name for p in plan]
    steps = [get_step(n) for n in names]  # UnknownStepError before any work
    if cfg.checkpoint_after is not None and cfg.checkpoint_after not in names:
        raise ConfigurationError(f"--checkpoint-after {cfg.checkpoint_after!r} is not one of the planned steps {names}")
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
        for planned, st in list(zip(plan, steps))[n_done:]:
            s.run(st, **planned.params)
            if not cfg.defer:
                s.save(out)
            if planned.name == cfg.checkpoint_after:
                ckpt = s.checkpoint(checkpoint_path(cfg.with_out(out), planned.name), checkpoint_name=planned.name)
        s.save(out)
        result = _result(s, out, names, ckpt)
    else:
        with pipeline_session(out, defer=cfg.defer, overwrite=cfg.overwrite, dataset_id=dataset_id) as s:
            for planned, st in zip(plan, steps):
                s.run(st, **planned.params)
                if planned.name == cfg.checkpoint_after:
                    ckpt = s.checkpoint(checkpoint_path(cfg.with_out(out), planned.name), checkpoint_name=planned.name)
            result = _result(s, out, names, ckpt)
    seconds = time.perf_counter() - t0
    result = replace(result, bytes=out.stat().st_size, seconds=seconds)
    log.info("run_finished", path=str(out), seconds=round(seconds, 3), bytes=result.bytes)
    return result


def _resume(cfg: RunConfig, plan: tuple[PlannedStep, ...]) -> PipelineSession:
    """Load ``cfg.resume_from`` (lazily, deferred) after checking that its journal is a prefix of *plan*."""
    s = PipelineSession.load(Path(cfg.resume_from), defer=True)  # type: ignore[arg-type]
    done = s.journal
    if len(done) > len(plan):
        raise ConfigurationError(f"{cfg.resume_from}: has {len(done)} steps, more than the {len(plan)} planned")
    for e, planned in zip(done, plan):
        name, version, params = planned.key()
        if (e.step, e.step_version, e.params) != (name, version, params):
            raise ConfigurationError(
                f"{cfg.resume_from}: step #{e.seq} is {e.step!r} v{e.step_version} with params {e.params}, "
                f"but this run plans {name!r} v{version} with {params}; cannot resume from it"
            )
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
    from txpipe.synth import make_recording

    out_dir = Path(out_dir).expanduser().absolute()
    truth = make_recording(out_dir / "recording", n_units=n_units, seed=seed)
    cfg = RunConfig(
        cmcr=Path(truth.paths["cmcr"]),
        cmtr=Path(truth.paths["cmtr"]),
        out=out_dir / f"{truth.dataset_id}.h5",
        defer=defer,
    )
    return run_pipeline(cfg), truth
