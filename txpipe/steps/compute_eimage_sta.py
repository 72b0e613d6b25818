"""
Step ``compute_eimage_sta``: each unit's electrical image from the raw sensor stream.

Reads ``/source_files`` (the ``.cmcr`` path), ``/metadata/acquisition_rate`` (Hz) and
``units/{id}/spike_times`` (samples) from the state, and the sensor stream
``/Acquisition/Sensor Data/SensorData 1 1`` of the ``.cmcr`` in chunks through
:mod:`txpipe.mcs.reader` (never whole, never into the state). The analysis window is the first
``duration_s`` seconds of the stream. Writes, per selected unit::

    units/{id}/features/eimage_sta/data   float32 (lag, 65, 65) = [lag, Row-1, Column-1], ADC counts
        attrs: n_spikes, n_excluded, n_beyond_limit, the step's parameters, window_samples, ...
    units/{id}/features/eimage_sta        attrs: extractor_version, params (canonical JSON)

The image is the mean, over the unit's first ``spike_limit`` spikes whose window
``[s + window_range[0], s + window_range[1])`` lies inside the analysis window, of the Butterworth
high-passed stream (zero phase, exactly scipy ``sosfiltfilt`` over the whole window, whatever
the chunk size; :mod:`txpipe.kernels.eimage`). Units without such a spike get an all-NaN image
with ``n_spikes = 0``. ``docs/eimage.md`` has the algorithm, its exactness argument, the memory
formula and the differences from the lab's results.

The step's parameters are declared once, in its signature; the session method, the classic
function, ``txpipe run --eimage`` and the plan derive from it.
"""

from __future__ import annotations

import inspect
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from txpipe.core.changes import Changes
from txpipe.core.fingerprint import file_fingerprint
from txpipe.core.journal import canonical_json, encode_param
from txpipe.core.paths import ACQUISITION_RATE, SOURCE_FILES, UNITS
from txpipe.core.dataset_id import dataset_id_for
from txpipe.core.params import Param, as_number, as_tuple
from txpipe.core.session import PipelineSession
from txpipe.core.step import step
from txpipe.steps.classic import classic_signature, given_params, open_target
from txpipe.steps.load_recording import load_recording_step
from txpipe.core.tree import StateView
from txpipe.errors import InputFileError, MissingPrerequisiteError, ParameterError
from txpipe.kernels import eimage as _k
from txpipe.mcs import reader as mcs

log = structlog.get_logger("txpipe")

EIMAGE_VERSION = "1"
FEATURE = "eimage_sta"

_UNIT_RE = re.compile(r"^(?:unit_)?0*(\d+)$")


def _unit_num(v: Any) -> int:
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v)
    if isinstance(v, str):
        m = _UNIT_RE.match(v.strip())
        if m:
            return int(m.group(1))
    raise ParameterError(f"compute_eimage_sta: unit_ids holds {v!r}; give CMTR unit numbers (3, '3' or 'unit_003')")


def _unit_ids(v: Any) -> tuple[int, ...]:
    """CMTR unit numbers as a sorted tuple (one id, a list of ids, ``'unit_003'`` forms)."""
    if isinstance(v, (str, int, np.integer)):
        v = [v]
    return tuple(sorted({_unit_num(u) for u in v}))


def _positive_seconds(name: str) -> Any:
    def check(v: Any) -> None:
        if isinstance(v, bool) or not isinstance(v, float) or not math.isfinite(v) or v <= 0:
            raise ParameterError(f"compute_eimage_sta: {name} must be a positive number of seconds, got {v!r}")
    return check


def _check_spike_limit(v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ParameterError(f"compute_eimage_sta: spike_limit must be a positive integer, got {v!r}")


def _check_filter_order(v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 10:
        raise ParameterError(f"compute_eimage_sta: filter_order must be an integer in 1..10, got {v!r}")


def _check_cutoff(v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, float) or not v > 0:
        raise ParameterError(f"compute_eimage_sta: cutoff_hz must be a positive frequency in Hz, got {v!r}")


def _check_skip(v: Any) -> None:
    if not isinstance(v, bool):
        raise ParameterError(f"compute_eimage_sta: skip_highpass must be True or False, got {v!r}")


def _check_window(v: Any) -> None:
    _k.check_window_range(v)


def check_sensor_stream(cmcr_path: str | os.PathLike[str]) -> None:
    """Before a run: the ``.cmcr`` has a readable sensor stream (opened, nothing read).

    Raises:
        McsFileError, McsFormatError: missing file, or no (frames, 65, 65) sensor stream.
    """
    with mcs.open_sensor_stream(cmcr_path):
        pass


def memory_bytes(chunk_samples: int, overlap_samples: int, n_units: int, width: int, channels: int = mcs.N_SENSORS,
                 *, kernel: str = "auto") -> int:
    """Upper bound of the step's working memory beyond the state (bytes) for the kernel that runs
    (see :func:`txpipe.kernels.eimage.working_memory_bytes`)."""
    return _k.working_memory_bytes(_k.resolve_kernel(kernel), chunk_samples, overlap_samples, n_units, width, channels)


def _select_units(state: StateView, unit_ids: tuple[int, ...] | None) -> list[tuple[str, int]]:
    """``(unit_id, unit_num)`` of the units to image, in state order."""
    units = state.keys(UNITS) if state.is_group(UNITS) else []
    nums = [(uid, int(state.attrs(UNITS / uid).get("unit_num", -1))) for uid in units]
    if unit_ids is None:
        return nums
    have = {n for _, n in nums}
    missing = [u for u in unit_ids if u not in have]
    if missing:
        raise ParameterError(f"compute_eimage_sta: unit_ids {missing} are not in the recording (its CMTR unit numbers: "
                             f"{sorted(have)})")
    want = set(unit_ids)
    return [(uid, n) for uid, n in nums if n in want]


@step("compute_eimage_sta", version=EIMAGE_VERSION, requires=("load_recording",), method=True)
def compute_eimage_sta_step(
    state: StateView,
    *,
    duration_s: float = Param(120.0, unit="s", help="analysis window from the start of the sensor stream",
                              normalize=as_number(float), check=_positive_seconds("duration_s")),
    spike_limit: int = Param(10000, unit="spikes", help="at most this many spikes per unit",
                             normalize=as_number(int), check=_check_spike_limit),
    unit_ids: tuple[int, ...] | None = Param(None, help="CMTR unit numbers to image (default: every unit)",
                                             normalize=_unit_ids),
    window_range: tuple[int, int] = Param((-10, 40), unit="samples", help="window around the spike (LO HI)",
                                          normalize=as_tuple(int, 2), check=_check_window),
    cutoff_hz: float = Param(100.0, unit="Hz", help="high-pass corner frequency", normalize=as_number(float),
                             check=_check_cutoff),
    filter_order: int = Param(2, help="Butterworth order", normalize=as_number(int), check=_check_filter_order),
    skip_highpass: bool = Param(False, help="average the raw stream instead", check=_check_skip),
    chunk_duration_s: float = Param(10.0, unit="s", help="stream processed at once (sets memory, not the result)",
                                    normalize=as_number(float), check=_positive_seconds("chunk_duration_s")),
) -> Changes:
    """
    Electrical image of each unit: the mean high-passed sensor window around its spikes.

    Args:
        duration_s: analysis window, the first *duration_s* seconds of the sensor stream
            (shortened, with a warning, to the stream's length).
        spike_limit: at most this many spikes per unit (the first in time whose window fits).
        unit_ids: CMTR unit numbers (``3``, ``"3"`` or ``"unit_003"``); None: every unit.
        window_range: ``(lo, hi)`` samples around the spike; the image has ``hi - lo`` lags.
        cutoff_hz: high-pass corner frequency (Hz); filter_order: Butterworth order.
        skip_highpass: average the raw stream (ADC counts incl. offsets) instead.
        chunk_duration_s: samples processed at once (s); sets the memory, not the result.

    Raises:
        ParameterError: a bad parameter or unknown unit id.
        MissingPrerequisiteError: no recording loaded (run load_recording first).
        McsFileError, McsFormatError: the ``.cmcr`` is missing, unreadable, or has no sensor stream.
        InputFileError: the sensor stream's sampling rate disagrees with the recording's.
    """
    p = {"duration_s": duration_s, "spike_limit": spike_limit, "unit_ids": unit_ids, "window_range": window_range,
         "cutoff_hz": cutoff_hz, "filter_order": filter_order, "skip_highpass": skip_highpass,
         "chunk_duration_s": chunk_duration_s}
    if ACQUISITION_RATE not in state or not state.is_group(UNITS):
        raise MissingPrerequisiteError("compute_eimage_sta: no recording in the state; run load_recording first",
                                       step="compute_eimage_sta", missing="load_recording")
    cmcr_path = state.attrs(SOURCE_FILES).get("cmcr_path") if SOURCE_FILES in state else None
    if not cmcr_path:
        raise MissingPrerequisiteError("compute_eimage_sta: /source_files has no cmcr_path; run load_recording first",
                                       step="compute_eimage_sta", missing="load_recording")
    fs = float(np.asarray(state[ACQUISITION_RATE]))
    lo, hi = p["window_range"]
    width = hi - lo
    chosen = _select_units(state, p["unit_ids"])
    hp = None if p["skip_highpass"] else _k.design_highpass(fs, p["cutoff_hz"], p["filter_order"])
    warnings: list[str] = []
    t0 = time.perf_counter()
    with mcs.open_sensor_stream(cmcr_path) as stream:
        if stream.tick_us is not None and abs(1e6 / stream.tick_us - fs) > 1e-6 * fs:
            raise InputFileError(f"{stream.path}: sensor stream tick {stream.tick_us} µs ({1e6 / stream.tick_us:g} Hz) "
                                 f"disagrees with the recording's {fs:g} Hz", path=str(stream.path))
        n_want = int(round(p["duration_s"] * fs))
        n = min(n_want, stream.n_frames)
        if n < n_want:
            warnings.append(f"{stream.path}: the sensor stream has {stream.n_frames} samples "
                            f"({stream.n_frames / fs:g} s); duration_s={p['duration_s']:g} s shortened to it")
        if hp is not None and n <= hp.padlen + width:
            raise ParameterError(f"compute_eimage_sta: the analysis window ({n} samples) is too short for the filter "
                                 f"padding ({hp.padlen}) and the window ({width} samples)")
        spikes, n_excl, n_over = [], [], []
        for uid, _ in chosen:
            s, e, o = _k.select_spikes(np.asarray(state[UNITS / uid / "spike_times"]).astype(np.int64), 0, n,
                                       (lo, hi), p["spike_limit"])
            spikes.append(s)
            n_excl.append(e)
            n_over.append(o)
        chunk = max(1, int(round(p["chunk_duration_s"] * fs)))
        overlap = hp.overlap if hp is not None else 0
        log.info("eimage_started", path=str(stream.path), window_samples=n, n_units=len(chosen),
                 chunk_samples=chunk, memory_bytes=memory_bytes(min(chunk, n), overlap, len(chosen), width))
        with state.counter(math.ceil(n / fs), unit="s") as bar:  # progress in seconds of the window
            shown = 0

            def on_chunk(done: int, total: int) -> None:
                nonlocal shown
                now = math.ceil(done / fs) if done >= total else int(done / fs)
                bar.update(now - shown)
                shown = now

            res = _k.stream_eimage(lambda a, b: stream.read(a, b), n, mcs.N_SENSORS, spikes, (lo, hi), hp, chunk,
                                   on_chunk=on_chunk, read_into=lambda a, b, out: stream.read(a, b, out))
        fp = file_fingerprint(stream.path)

    params_json = canonical_json({k: encode_param(v) for k, v in p.items()})
    ch = Changes()
    units = state.keys(UNITS)
    for uid in units:
        ch.delete(UNITS / uid / "features" / FEATURE, missing_ok=True)
    for i, (uid, num) in enumerate(chosen):
        cnt = int(res.counts[i])
        img = (res.unit_sum(i) / cnt) if cnt else np.full((width, mcs.N_SENSORS), np.nan)
        g = UNITS / uid / "features" / FEATURE
        ch.put(
            g / "data",
            img.reshape(width, mcs.CHIP_SIDE, mcs.CHIP_SIDE).astype(np.float32),
            n_spikes=cnt,
            n_excluded=int(n_excl[i]),
            n_beyond_limit=int(n_over[i]),
            axes="lag,row,col",
            unit="adc_counts",
            lag0_index=int(-lo),
            window_samples=int(n),
            window_start_sample=0,
            acquisition_rate_hz=fs,
            duration_s=p["duration_s"],
            spike_limit=p["spike_limit"],
            window_range=np.array([lo, hi], np.int64),
            cutoff_hz=p["cutoff_hz"],
            filter_order=p["filter_order"],
            skip_highpass=p["skip_highpass"],
            chunk_duration_s=p["chunk_duration_s"],
            extractor_version=EIMAGE_VERSION,
        )
        ch.set_attrs(g, extractor_version=EIMAGE_VERSION, params=params_json)
    ch.add_input(fp)
    seconds = time.perf_counter() - t0
    ch.note(n_units=len(chosen), window_samples=int(n), n_spikes=int(res.counts.sum()),
            n_excluded=int(sum(n_excl)), n_beyond_limit=int(sum(n_over)),
            units_without_spikes=int(np.count_nonzero(res.counts == 0)), seconds=round(seconds, 3),
            compute_seconds=round(res.filter_seconds + res.add_seconds, 3), read_seconds=round(res.read_seconds, 3),
            warnings=warnings)
    for w in warnings:
        log.warning("compute_eimage_sta_warning", message=w)
    log.info("eimage_finished", n_units=len(chosen), window_samples=int(n), seconds=round(seconds, 3))
    return ch


# --- classic functions --------------------------------------------------------------------------------


@dataclass
class EImageResult:
    """What a classic ``compute_eimage_sta(path, ...)`` call did. ``skipped``: the file already
    held images from the same parameters and unchanged input (``force=False``)."""

    hdf5_path: Path | None
    units_processed: int
    units_without_spikes: int
    n_spikes: int
    n_excluded: int
    window_samples: int
    elapsed_seconds: float
    skipped: bool = False
    warnings: list[str] = field(default_factory=list)


def _done_before(s: Any, params: dict[str, Any]) -> Any:
    """The journal entry of an earlier identical compute_eimage_sta whose ``.cmcr`` is unchanged."""
    want = {k: encode_param(v, k) for k, v in sorted(params.items())}
    for e in reversed(s.journal):
        if e.step == "load_recording":
            return None  # the recording was (re)loaded after any earlier image
        if e.step != "compute_eimage_sta":
            continue
        if dict(e.params) != want:
            return None
        for inp in e.inputs:
            try:
                now = file_fingerprint(inp["path"])
            except OSError:
                return None
            if any(now[k] != inp.get(k) for k in ("size", "mtime_ns", "sample_digest")):
                return None
        return e
    return None


def compute_eimage_sta(
    hdf5_path: Any = None,
    *args: Any,
    session: Any = None,
    defer_save: bool = False,
    force: bool = False,
    **params: Any,
) -> Any:
    """
    Classic, path-based ``compute_eimage_sta``; takes the step's parameters (see
    :func:`compute_eimage_sta_step` for them and their units): the electrical image of every
    (or each listed) unit from the ``.cmcr`` the file was loaded from.

    ``compute_eimage_sta(path)`` reads *path*, runs the step and commits the file atomically,
    returning an :class:`EImageResult`. If the file's journal already ends with an identical
    ``compute_eimage_sta`` on an unchanged ``.cmcr``, nothing is recomputed (``skipped=True``)
    unless ``force=True``. With ``session=s`` (or ``defer_save=True``) the step runs on that (a
    DEFERRED) session and the session is returned.
    """
    t0 = time.perf_counter()
    kw = given_params(compute_eimage_sta_step, args, params)
    t = open_target(compute_eimage_sta_step, hdf5_path, defer_save=defer_save, session=session)
    s = t.session
    if not force and not t.return_session:
        e = _done_before(s, kw)
        if e is not None:
            s.close()
            n = e.notes
            return EImageResult(s.hdf5_path, int(n.get("n_units", 0)), int(n.get("units_without_spikes", 0)),
                                int(n.get("n_spikes", 0)), int(n.get("n_excluded", 0)), int(n.get("window_samples", 0)),
                                round(time.perf_counter() - t0, 6), skipped=True,
                                warnings=[f"{s.hdf5_path}: electrical images already computed with these parameters; "
                                          "pass force=True to recompute"])
    s.run(compute_eimage_sta_step, **kw)  # an immediate session commits the file here
    if t.return_session:
        return s
    n = s.journal[-1].notes
    return EImageResult(s.hdf5_path, int(n.get("n_units", 0)), int(n.get("units_without_spikes", 0)),
                        int(n.get("n_spikes", 0)), int(n.get("n_excluded", 0)), int(n.get("window_samples", 0)),
                        round(time.perf_counter() - t0, 6), warnings=list(n.get("warnings", [])))


compute_eimage_sta.__signature__ = classic_signature(  # type: ignore[attr-defined]
    compute_eimage_sta_step, [inspect.Parameter("hdf5_path", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)],
    [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d)
     for n, d in (("session", None), ("defer_save", False), ("force", False))])


def load_recording_with_eimage_sta(
    *args: Any,
    output_dir: str | os.PathLike[str] = "artifacts",
    force: bool = False,
    defer_save: bool = False,
    session: Any = None,
    **params: Any,
) -> Any:
    """
    The lab's production first step: :func:`~txpipe.load_recording` followed by
    :func:`compute_eimage_sta`, as two journaled steps in one session. Takes both steps'
    parameters (``load_recording``'s positionally as there, the electrical image's by name).

    * default: save ``output_dir/{dataset_id}.h5`` once, atomically, after both steps; return an
      :class:`EImageResult` (``FileExistsError`` if the file exists, unless ``force=True``).
    * ``defer_save=True``: return the DEFERRED session, nothing written.
    * ``session=s``: run both steps on *s* and return it.
    """
    t0 = time.perf_counter()
    mine = {k: params.pop(k) for k in list(params) if k in compute_eimage_sta_step.params.specs}
    lp = given_params(load_recording_step, args, params)
    kw = compute_eimage_sta_step.canonical_params(mine)
    if session is not None:
        if not isinstance(session, PipelineSession):
            raise TypeError(f"load_recording_with_eimage_sta: session= must be a PipelineSession, got {type(session).__name__}")
        return session.run(load_recording_step, **lp).run(compute_eimage_sta_step, **kw)
    if defer_save:
        return PipelineSession(output_dir=output_dir).run(load_recording_step, **lp).run(compute_eimage_sta_step, **kw)
    target = Path(output_dir) / f"{dataset_id_for(lp['cmtr_path'], lp['dataset_id'])}.h5"
    if target.exists() and not force:
        raise FileExistsError(f"{target}: exists; pass force=True to replace it")
    s = PipelineSession(output_dir=output_dir)
    s.run(load_recording_step, **lp).run(compute_eimage_sta_step, **kw)
    path = s.save(target, overwrite=True)
    n = s.journal[-1].notes
    warnings = list(s.journal[0].notes.get("warnings", [])) + list(n.get("warnings", []))
    return EImageResult(path, int(n.get("n_units", 0)), int(n.get("units_without_spikes", 0)), int(n.get("n_spikes", 0)),
                        int(n.get("n_excluded", 0)), int(n.get("window_samples", 0)),
                        round(time.perf_counter() - t0, 6), warnings=warnings)


load_recording_with_eimage_sta.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    list(classic_signature(load_recording_step, [], []).parameters.values())
    + [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d)
       for n, d in (("output_dir", "artifacts"), ("force", False), ("defer_save", False), ("session", None))]
    + list(compute_eimage_sta_step.signature.parameters.values()))


__all__ = ["EImageResult", "check_sensor_stream", "compute_eimage_sta", "compute_eimage_sta_step", "load_recording_with_eimage_sta",
           "memory_bytes"]
