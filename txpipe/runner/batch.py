"""
Many recordings: discover them, skip the ones already done, run the rest, report every outcome.

``txpipe batch`` calls :func:`discover` (a CSV list or a folder) and :func:`run_batch`. Each
recording is one task (:func:`run_task`) writing its own output file
``OUTDIR/{dataset_id}.h5``, committed atomically, so a crash or a killed job never leaves a torn
output. Before submitting, a recording is **skipped** when its output exists, is a complete txpipe
file, its journal's steps (name, version, parameters) equal the planned ones, and the input
files it recorded are still the same files (:func:`check_output`). Inputs are recognised by
content (size, sampled digest and the MCS ``ID.InstanceID``), not by path, so the same data seen
through a symlink, a copy or another mount point is not redone; an input that was replaced is,
and the summary says ``redone: inputs changed``. Rerunning an interrupted batch therefore
completes only what is missing. ``force=True`` redoes everything.

A failure is data, not an exception: the task returns an :class:`Outcome` with status
``"failed"``, the error type and a one-line reason; a worker that dies (killed by the OS or a
cluster scheduler) is reported the same way, and the other recordings carry on. A recording
whose output another live batch is writing (its lock is held) is ``"elsewhere"``, not a
failure; the check whether a recording is done is repeated when its turn comes, so two batches
on one folder share the work.

SIGINT and SIGTERM stop a batch: queued recordings are cancelled, running ones are stopped
(their outputs keep their previous content: commits are atomic), and the report lists them as
``"cancelled"`` / ``"interrupted"`` with :attr:`BatchReport.interrupted` set.
"""

from __future__ import annotations

import contextlib
import csv
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from txpipe.core import store
from txpipe.core.journal import encode_param
from txpipe.core.locking import TargetLock
from txpipe.core.tree import Leaf
from txpipe.core.relocate import PathMap, changed_inputs, params_match_but_paths, parse_path_map
from txpipe.errors import ConfigurationError, InputFileError, LockedError, TxpipeError
from txpipe.mcs.reader import instance_id
from txpipe.runner.executors import Completed, Executor, SerialExecutor
from txpipe.log import configure_logging
from txpipe.core.dataset_id import dataset_id_for
from txpipe.mcs.reader import instance_id
from txpipe.synth import make_recording
from txpipe.runner.pipeline import RunConfig, build_plan, check_options, import_plugins, prepare, run_pipeline
from txpipe.runner.progress import ProgressBar, progress_disabled

CSV_COLUMNS = ("cmcr", "cmtr", "dataset_id", "playlist", "playlist_file", "movie_length_file", "stimuli_dir")
"""Columns a recording list may have; ``cmcr`` and ``cmtr`` are required, the rest override the
batch-wide options for that recording. Relative paths are relative to the CSV file's folder."""

_OVERRIDES = ("playlist", "playlist_file", "movie_length_file", "stimuli_dir")  # + dataset_id


@dataclass(frozen=True)
class Recording:
    """One recording to process. ``problem`` says why it cannot run (e.g. no ``.cmtr`` found)."""

    cmcr: Path
    cmtr: Path | None
    dataset_id: str
    overrides: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None


STATUSES = ("ok", "skipped", "failed", "elsewhere", "interrupted", "cancelled")
"""Outcome statuses: done now; already done; failed; being written by another live batch
(not a failure); stopped by a signal while running; never started because of a signal."""


@dataclass(frozen=True)
class Outcome:
    """What happened to one recording: one of :data:`STATUSES`; *message* says why (for ``"ok"``,
    e.g. ``redone: inputs changed``)."""

    dataset_id: str
    path: str
    status: str
    error_type: str = ""
    message: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class Task:
    """One recording's work, sent to a worker: the run configuration and the worker's log setup."""

    config: RunConfig
    log_json: bool | None = None
    log_level: str | None = None
    force: bool = False
    path_map: PathMap = ()
    note: str = ""


@dataclass
class BatchReport:
    """All outcomes of a batch, in input order."""

    outcomes: list[Outcome]
    seconds: float
    executor: str
    interrupted: str | None = None
    """The signal that stopped the batch (``"SIGINT"``, ``"SIGTERM"``), None if it ran to the end."""

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def table(self) -> str:
        """A plain-text summary table, one row per recording, and a totals line."""
        rows = [("dataset_id", "status", "seconds", "output / reason")]
        for o in self.outcomes:
            if o.status == "failed":
                detail = f"{o.error_type}: {o.message}"
            elif o.status in ("ok", "skipped") and o.message.startswith("redone"):
                detail = f"{o.path} ({o.message})"
            elif o.status in ("elsewhere", "interrupted", "cancelled"):
                detail = o.message
            else:
                detail = o.path
            rows.append((o.dataset_id, o.status, f"{o.seconds:.1f}", detail))
        w = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:>{w[2]}}  {r[3]}" for r in rows]
        lines.insert(1, "-" * min(100, max(len(x) for x in lines)))
        counts = [f"{self.count('ok')} ok", f"{self.count('skipped')} skipped", f"{self.count('failed')} failed"]
        redone = sum(o.status == "ok" and o.message.startswith("redone") for o in self.outcomes)
        if redone:
            counts[0] += f" ({redone} redone: inputs changed)"
        for st, label in (("elsewhere", "in progress elsewhere"), ("interrupted", "interrupted"),
                          ("cancelled", "cancelled")):
            if self.count(st):
                counts.append(f"{self.count(st)} {label}")
        lines.append(f"{len(self.outcomes)} recordings: {', '.join(counts)} in {self.seconds:.1f} s ({self.executor})")
        if self.interrupted:
            lines.append(f"stopped by {self.interrupted}: rerun the same command to complete the interrupted and "
                         "cancelled recordings (finished ones are skipped)")
        return "\n".join(lines)


# --- discovery -------------------------------------------------------------------------------


def _dataset_id(cmtr: Path | None, cmcr: Path) -> str:
    try:
        return dataset_id_for(cmtr if cmtr is not None else cmcr)
    except ConfigurationError:  # reported when the recording is planned
        return cmcr.stem


def _match_cmtr(cmcr: Path) -> Path | None:
    for cand in (cmcr.with_name(f"{cmcr.stem}-.cmtr"), cmcr.with_suffix(".cmtr")):
        if cand.is_file():
            return cand
    return None


def discover(source: str | os.PathLike[str]) -> list[Recording]:
    """
    The recordings named by *source*: a CSV list (:data:`CSV_COLUMNS`) or a folder searched
    recursively (following symlinked folders) for ``*.cmcr`` files with a matching
    ``{stem}-.cmtr`` or ``{stem}.cmtr``.

    A ``.cmcr`` without a matching ``.cmtr`` is kept with a ``problem`` (reported as failed).

    Raises:
        FileNotFoundError: *source* does not exist.
        ConfigurationError: the CSV lacks ``cmcr``/``cmtr`` columns, has unknown columns, or two
            recordings share a dataset id (their outputs would collide).
    """
    src = Path(source)
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such file or folder")
    recs = _read_list(src) if src.is_file() else _scan_folder(src)
    seen: dict[str, Path] = {}
    for r in recs:
        if r.dataset_id in seen:
            raise ConfigurationError(
                f"{src}: dataset id {r.dataset_id!r} appears twice ({seen[r.dataset_id]} and {r.cmcr}); "
                "outputs would collide (set a dataset_id column)"
            )
        seen[r.dataset_id] = r.cmcr
    return recs


def _walk_cmcr(folder: Path) -> list[Path]:
    """Every ``*.cmcr`` below *folder*, following symlinked folders (each real folder once)."""
    found: list[Path] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a symlink loop, or a folder reached twice
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames.sort()
        found += [Path(dirpath, f) for f in filenames if f.endswith(".cmcr")]
    return sorted(found)


def _scan_folder(folder: Path) -> list[Recording]:
    out = []
    for cmcr in _walk_cmcr(folder):
        cmtr = _match_cmtr(cmcr)
        problem = None if cmtr else f"no {cmcr.stem}-.cmtr or {cmcr.stem}.cmtr beside {cmcr}"
        out.append(Recording(cmcr, cmtr, _dataset_id(cmtr, cmcr), {}, problem))
    return out


def _read_list(path: Path) -> list[Recording]:
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputFileError(f"{path}: cannot read recording list: {exc}", path=str(path)) from exc
    missing = [c for c in ("cmcr", "cmtr") if c not in header]
    if missing:
        raise ConfigurationError(f"{path}: recording list needs columns cmcr,cmtr (missing: {', '.join(missing)})")
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if unknown:
        raise ConfigurationError(f"{path}: unknown column(s) {unknown}; allowed: {', '.join(CSV_COLUMNS)}")
    base = path.parent

    def p(v: str) -> Path:
        q = Path(v.strip()).expanduser()
        return q if q.is_absolute() else base / q

    out = []
    for row in rows:
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        if not row.get("cmcr"):
            continue
        cmcr, cmtr = p(row["cmcr"]), (p(row["cmtr"]) if row.get("cmtr") else None)
        over: dict[str, Any] = {}
        for k in _OVERRIDES:
            if row.get(k):
                over[k] = row[k] if k == "playlist" else p(row[k])
        problem = None if cmtr is not None else "empty cmtr column"
        if row.get("dataset_id"):
            over["dataset_id"] = row["dataset_id"]
        out.append(Recording(cmcr, cmtr, row.get("dataset_id") or _dataset_id(cmtr, cmcr), over, problem))
    return out


# --- skipping ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputCheck:
    """Whether an existing output already holds a recording's result (:func:`check_output`).

    ``inputs_changed`` is True when the output matched the plan but a recorded input file is
    now another file (the recording is then redone; the summary says ``redone: inputs changed``).
    """

    done: bool
    reason: str
    inputs_changed: bool = False


def check_output(cfg: RunConfig, path_map: PathMap | Sequence[str] = ()) -> OutputCheck:
    """
    Whether ``cfg.out`` already holds this recording's finished result, and why (or why not).

    Done only when the file exists, is a complete txpipe file, its journal's ``(step,
    step_version, params)`` sequence equals :func:`~txpipe.runner.pipeline.build_plan`'s with
    paths set aside, and every input file the journal recorded is the same file now: same size
    and sampled digest (and, for the ``.cmcr``/``.cmtr``, the same MCS ``ID.InstanceID``),
    wherever it lies. A recorded input is looked for where the plan now points (the same
    recordings under another mount point or through a symlink match), after *path_map*
    (``OLD=NEW`` items) is applied.
    """
    pmap = parse_path_map(path_map)
    out = Path(cfg.out)
    if not out.exists():
        return OutputCheck(False, "no output yet")
    try:
        opened = store.open_file(out)
    except (OSError, TxpipeError) as exc:
        return OutputCheck(False, f"existing output unusable ({exc})")
    try:
        entries = opened.journal.entries
        sys_meta = {}
        for kind in ("cmcr", "cmtr"):
            node = opened.tree.node(f"metadata/sys_meta/{kind}")
            value = node.materialize() if isinstance(node, Leaf) else None
            sys_meta[kind] = value.get("ID.InstanceID") if isinstance(value, dict) else None
    except Exception as exc:  # a file we cannot read the journal/metadata of is not "done"
        return OutputCheck(False, f"existing output unusable ({type(exc).__name__}: {exc})")
    finally:
        opened.source.close()
    try:
        import_plugins(cfg.plugins)
        plan = build_plan(cfg)
    except TxpipeError as exc:
        return OutputCheck(False, f"cannot plan ({exc})")
    if len(entries) != len(plan):
        return OutputCheck(False, "existing output's journal differs from the requested steps/parameters")
    for e, planned in zip(entries, plan):
        name, version, params = planned.key()
        if (e.step, e.step_version) != (name, version) or not params_match_but_paths(e.params, params):
            return OutputCheck(False, "existing output's journal differs from the requested steps/parameters")
    changed = [d for _, d in changed_inputs(entries, [encode_param(p.params) for p in plan], pmap)]
    for kind, path in (("cmcr", cfg.cmcr), ("cmtr", cfg.cmtr)):
        recorded = sys_meta.get(kind)
        if recorded and not changed:
            now = instance_id(path)
            if now is not None and now != recorded:
                changed.append(f"{path}: MCS InstanceID {recorded} -> {now}")
    if changed:
        return OutputCheck(False, "redone: inputs changed (" + "; ".join(changed[:3]) +
                           (f"; and {len(changed) - 3} more" if len(changed) > 3 else "") + ")", True)
    return OutputCheck(True, "output complete with a matching journal and unchanged inputs")


def completed_output(cfg: RunConfig, path_map: PathMap | Sequence[str] = ()) -> tuple[bool, str]:
    """``(done, reason)`` of :func:`check_output`."""
    chk = check_output(cfg, path_map)
    return chk.done, chk.reason


# --- running -----------------------------------------------------------------------------------


def run_task(task: Task) -> Outcome:
    """
    Process one recording (runs in a worker). Never raises for the recording's own failure:
    it returns an Outcome with status ``"failed"``, the error type and the message.
    """
    if task.log_json is not None or task.log_level is not None:
        configure_logging(json=task.log_json, level=task.log_level)
    cfg = task.config
    try:
        did = cfg.resolved_dataset_id()
    except ConfigurationError:
        did = str(cfg.dataset_id or Path(cfg.cmtr).stem)
    t0 = time.perf_counter()
    note = task.note
    try:
        if not task.force:  # another batch may have finished it since the parent looked
            with TargetLock(cfg.out):
                chk = check_output(cfg, task.path_map)
            if chk.done:
                return Outcome(did, str(cfg.out), "skipped", message="finished meanwhile (another batch)",
                               seconds=time.perf_counter() - t0)
            if chk.inputs_changed:
                note = chk.reason
        with progress_disabled() if multiprocessing.parent_process() is not None else contextlib.nullcontext():
            res = run_pipeline(cfg)  # in this process (--workers 1): its bars nest under the batch bar
    except LockedError as exc:
        msg = f"in progress elsewhere: {exc.holder}" if getattr(exc, "holder", "") else "in progress elsewhere"
        return Outcome(did, str(cfg.out), "elsewhere", "LockedError", msg, time.perf_counter() - t0)
    except Exception as exc:  # failures are data (module docstring); the type and message are kept
        return Outcome(did, str(cfg.out), "failed", type(exc).__name__, _one_line(exc), time.perf_counter() - t0)
    return Outcome(res.dataset_id, str(res.path), "ok", message=note, seconds=time.perf_counter() - t0)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _lost_worker(exc: BaseException) -> bool:
    return type(exc).__name__ in ("BrokenProcessPool", "KilledWorker")


def configs_for(recordings: Sequence[Recording], out_dir: str | os.PathLike[str], template: dict[str, Any]) -> list[RunConfig]:
    """One RunConfig per recording: *template* (batch-wide options) + the CSV overrides (a CSV
    ``dataset_id`` is passed to ``load_recording``), output ``out_dir/{dataset_id}.h5``."""
    out_dir = Path(out_dir)
    cfgs = []
    for r in recordings:
        opts = {**template, **r.overrides}
        cfgs.append(RunConfig(cmcr=r.cmcr, cmtr=r.cmtr or r.cmcr, out=out_dir / f"{r.dataset_id}.h5", **opts))
    return cfgs


class BatchInterrupted(KeyboardInterrupt):
    """Raised in the batch process by SIGINT/SIGTERM while a batch runs (see :func:`run_batch`)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGINT/SIGTERM raise :class:`BatchInterrupted` (once; later ones are ignored while the
    batch cleans up). Only in the main thread, where Python delivers signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sigs = (signal.SIGINT, signal.SIGTERM)

    def handler(signum: int, frame: object) -> None:
        for sg in sigs:
            signal.signal(sg, signal.SIG_IGN)
        raise BatchInterrupted(signum)

    old = {sg: signal.signal(sg, handler) for sg in sigs}
    try:
        yield
    finally:
        for sg, h in old.items():
            signal.signal(sg, h)


def run_batch(
    recordings: Sequence[Recording],
    out_dir: str | os.PathLike[str],
    *,
    executor: Executor | None = None,
    force: bool = False,
    path_map: PathMap | Sequence[str] = (),
    log_json: bool | None = None,
    log_level: str | None = None,
    **options: Any,
) -> BatchReport:
    """
    Run the pipeline on every recording, one output file each in *out_dir*.

    Args:
        recordings: from :func:`discover`.
        out_dir: output folder (created if missing).
        executor: default :class:`~txpipe.runner.executors.SerialExecutor`.
        force: redo recordings whose output is already complete.
        path_map: ``OLD=NEW`` items for input files recorded in existing outputs under another
            path (see :func:`check_output`).
        log_json, log_level: logging setup passed to worker processes.
        **options: batch-wide :class:`~txpipe.runner.pipeline.RunConfig` fields (``playlist``,
            ``pad_margin``, ``features``, ``defer`` …); a CSV column overrides them per recording.

    Returns:
        A :class:`BatchReport` with one :class:`Outcome` per recording, in input order. When
        SIGINT or SIGTERM arrives (in the main thread), queued recordings are cancelled, running
        ones stopped, and the report comes back with ``interrupted`` set to the signal's name
        instead of an exception, so that the caller can print what was done.
    """
    t0 = time.perf_counter()
    check_options(**options)  # batch-wide mistakes fail once, before any recording
    executor = executor or SerialExecutor()
    pmap = parse_path_map(path_map)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    log = structlog.get_logger("txpipe")
    results: dict[int, Outcome] = {}
    pending: list[tuple[int, Task]] = []
    interrupted: str | None = None
    cfgs = configs_for(recordings, out_dir, options)
    with _stop_on_signals():
        try:
            for i, (rec, cfg) in enumerate(zip(recordings, cfgs)):
                if rec.problem is not None:
                    results[i] = Outcome(rec.dataset_id, str(cfg.out), "failed", "InputFileError", rec.problem)
                    log.error("recording_failed", dataset_id=rec.dataset_id, error_type="InputFileError", reason=rec.problem)
                    continue
                note = ""
                if not force:
                    chk = check_output(cfg, pmap)
                    if chk.done:
                        results[i] = Outcome(rec.dataset_id, str(cfg.out), "skipped", message=chk.reason)
                        log.info("recording_skipped", dataset_id=rec.dataset_id, path=str(cfg.out), reason=chk.reason)
                        continue
                    if chk.inputs_changed:
                        note = chk.reason
                        log.warning("recording_inputs_changed", dataset_id=rec.dataset_id, path=str(cfg.out), reason=chk.reason)
                try:
                    import_plugins(cfg.plugins)
                    prepare(cfg)  # a bad parameter or input fails this recording before any step runs
                except (TxpipeError, OSError) as exc:
                    results[i] = Outcome(rec.dataset_id, str(cfg.out), "failed", type(exc).__name__, _one_line(exc))
                    log.error("recording_failed", dataset_id=rec.dataset_id, error_type=type(exc).__name__,
                              reason=_one_line(exc))
                    continue
                pending.append((i, Task(cfg, log_json, log_level, force=force, path_map=pmap, note=note)))
            log.info("batch_started", n_recordings=len(recordings), n_to_run=len(pending),
                     n_skipped=sum(o.status == "skipped" for o in results.values()), executor=executor.describe())
            with ProgressBar(total=len(pending), desc="batch", unit="recording") as bar:
                for done in executor.map(run_task, [t for _, t in pending]):
                    i = pending[done.index][0]
                    results[i] = _outcome(done, recordings[i])
                    o = results[i]
                    if o.status == "ok":
                        log.info("recording_done", dataset_id=o.dataset_id, path=o.path, seconds=round(o.seconds, 3))
                    elif o.status == "failed":
                        log.error("recording_failed", dataset_id=o.dataset_id, error_type=o.error_type, reason=o.message)
                    else:
                        log.info(f"recording_{o.status}", dataset_id=o.dataset_id, path=o.path, reason=o.message)
                    bar.update(1, postfix=f"{o.dataset_id} {o.status}")
        except BatchInterrupted as exc:
            interrupted = signal.Signals(exc.signum).name
            aborted = dict(getattr(executor, "aborted", {}) or {})
            for k, (i, task) in enumerate(pending):
                if i in results:
                    continue
                rec = recordings[i]
                if aborted.get(k) == "cancelled":
                    results[i] = Outcome(rec.dataset_id, str(task.config.out), "cancelled", interrupted,
                                         f"not started ({interrupted})")
                else:
                    results[i] = Outcome(rec.dataset_id, str(task.config.out), "interrupted", interrupted,
                                         f"stopped by {interrupted} before it finished; output unchanged")
            for i, (rec, cfg) in enumerate(zip(recordings, cfgs)):
                if i not in results:  # interrupted while checking outputs, before submitting
                    results[i] = Outcome(rec.dataset_id, str(cfg.out), "cancelled", interrupted, f"not started ({interrupted})")
            log.warning("batch_interrupted", signal=interrupted, interrupted=sum(o.status == "interrupted" for o in results.values()),
                        cancelled=sum(o.status == "cancelled" for o in results.values()))
    report = BatchReport([results[i] for i in sorted(results)], time.perf_counter() - t0, executor.describe(), interrupted)
    log.info("batch_finished", ok=report.count("ok"), skipped=report.count("skipped"),
             failed=report.count("failed"), elsewhere=report.count("elsewhere"), seconds=round(report.seconds, 3))
    return report


def _outcome(done: Completed[Task, Outcome], rec: Recording) -> Outcome:
    if done.error is None and done.value is not None:
        return done.value
    exc = done.error or RuntimeError("task returned nothing")
    out = str(done.item.config.out)
    if _lost_worker(exc):
        msg = "worker process died before this recording finished (killed, out of memory or crashed); rerun to complete it"
        return Outcome(rec.dataset_id, out, "failed", "WorkerLost", msg)
    return Outcome(rec.dataset_id, out, "failed", type(exc).__name__, _one_line(exc))



def synth_recordings(out_dir: str | os.PathLike[str], *, count: int = 1, name: str = "synthetic-Rec",
                     seed: int = 0, **synth_options: Any) -> list[Any]:
    """
    ``txpipe synth``: write *count* synthetic recordings for trying a batch.

    One recording goes straight into *out_dir*; several go into ``out_dir/{name}_{i:02d}/``
    (each with its own side files, since the noise movie depends on the seed), seeds
    ``seed, seed+1, …``. *synth_options* are passed to :func:`txpipe.synth.make_recording`.
    Returns the :class:`~txpipe.synth.GroundTruth` of each.
    """
    if count < 1:
        raise ConfigurationError(f"count must be at least 1, got {count}")
    out = Path(out_dir)
    if count == 1:
        return [make_recording(out, name=name, seed=seed, **synth_options)]
    return [
        make_recording(out / f"{name}_{i:02d}", name=f"{name}_{i:02d}", seed=seed + i, **synth_options)
        for i in range(1, count + 1)
    ]
