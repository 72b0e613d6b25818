"""
The ``txpipe`` command: argument parsing and exit codes only.

Each subcommand calls one function of :mod:`txpipe.runner.pipeline`, :mod:`txpipe.runner.batch`,
:mod:`txpipe.runner.inspect`, :mod:`txpipe.core.replay` or :mod:`txpipe.synth`. Exit codes (``docs/cli.md``):

====  ===============================================================
0     success (``verify``: IDENTICAL)
1     a recording or step failed (a txpipe error, a missing file …)
2     usage error (bad arguments)
3     ``batch`` finished, but some recordings failed
4     ``verify`` found differences
130   interrupted (Ctrl-C, SIGINT)
143   terminated (SIGTERM, e.g. by ``timeout`` or a cluster scheduler)
====  ===============================================================

Global options (``-v``, ``-q``, ``--log-json``, ``--debug``, ``--plugin``) go before or after the
subcommand: ``txpipe -v demo`` and ``txpipe demo -v`` are the same.

Errors print one line, ``txpipe: error: <message>``; ``--debug`` prints the traceback too.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path

from txpipe.core.compression import DEFAULT_LEVEL
from txpipe.core.replay import verify
from txpipe.core.step import get_step
from txpipe.errors import ConfigurationError, TxpipeError
from txpipe.export.cli import add_export_parser  # pynwb itself loads only when exporting
from txpipe.log import configure_logging
from txpipe.report import add_report_arguments, run_report
from txpipe.runner.batch import discover, run_batch, synth_recordings
from txpipe.runner.executors import make_executor
from txpipe.runner.inspect import format_summary, human_bytes, summarize
from txpipe.runner.pipeline import (
    PIPELINE_STEPS, RunConfig, RunResult, check_options, import_plugins, run_demo, run_pipeline,
)
from txpipe.runner.progress import configure_progress
from txpipe.synth import default_protocol, full_protocol
from txpipe.version import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BATCH_FAILURES = 3
EXIT_DIFFERENT = 4
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143



# --- parser ------------------------------------------------------------------------------------


_GLOBAL_DEFAULTS = {"verbose": 0, "quiet": False, "log_json": False, "debug": False, "plugin": []}


def _add_global_options(p: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The global options; on subcommands (``suppress``) they default to "not given", so that
    a value given before the subcommand (``txpipe -v demo``) is kept."""

    def d(name: str) -> object:
        return argparse.SUPPRESS if suppress else _GLOBAL_DEFAULTS[name]

    g = p.add_argument_group("output and logging")
    g.add_argument("-v", "--verbose", action="count", default=d("verbose"),
                   help="more log output on stderr (-v: info events, -vv: debug)")
    g.add_argument("-q", "--quiet", action="store_true", default=d("quiet"), help="only errors; no progress bars")
    g.add_argument("--log-json", action="store_true", default=d("log_json"),
                   help="log one JSON object per line (for machines)")
    g.add_argument("--debug", action="store_true", default=d("debug"), help="print the full traceback of an error")
    g.add_argument("--plugin", action="append", default=d("plugin"), metavar="MODULE",
                   help="import MODULE first (registers custom steps); repeatable")


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    _add_global_options(p, suppress=True)
    return p


def _path_map_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--path-map", action="append", default=[], metavar="OLD=NEW",
                   help="input files recorded under folder OLD are now under NEW (data moved, or a NAS mounted "
                   "elsewhere); repeatable")


def _features(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError("give feature names separated by commas, e.g. frif,baseline_127")
    return names


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return v


def _workers(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _step_option(group: argparse._ArgumentGroup, step_name: str, param: str, **kw: object) -> None:
    """``--param-name`` for a step parameter: type, arity, help and default from its declaration
    (left None here, so the step's own default applies)."""
    ps = get_step(step_name).params
    default = ps[param].default
    if isinstance(default, tuple):
        kw.update(nargs=len(default), type=type(default[0]))
    else:
        kw.update(type=type(default))
    group.add_argument(f"--{param.replace('_', '-')}", default=None, help=ps.help(param), **kw)  # type: ignore[arg-type]


def _pipeline_options(with_inputs: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("pipeline options")
    if with_inputs:
        g.add_argument("--playlist", metavar="NAME", help="playlist name (default: the only one in the playlist file)")
        g.add_argument("--playlist-file", type=Path, metavar="F", help="playlist CSV (default: playlist.csv beside the .cmcr)")
        g.add_argument("--movie-length-file", type=Path, metavar="F",
                       help="movie length CSV (default: movie_length.csv beside the .cmcr)")
        g.add_argument("--stimuli-dir", type=Path, metavar="D",
                       help="stimulus JSON configs and noise movies (default: stimuli/ beside the .cmcr)")
    _step_option(g, "section_spike_times", "pad_margin", metavar=("PRE", "POST"))
    _step_option(g, "compute_sta", "cover_range", metavar=("START", "STOP"))
    g.add_argument("--features", type=_features, metavar="a,b", help="feature extractors to run (default: the standard set)")
    g.add_argument("--eimage", action="store_true",
                   help="also compute each unit's electrical image from the raw sensor stream (needs sensor data in the .cmcr)")
    g.add_argument("--eimage-seconds", type=_seconds, metavar="S",
                   help="electrical image analysis window from the recording start [s] (default: "
                   f"{get_step('compute_eimage_sta').params['duration_s'].default:g}; implies --eimage)")
    g.add_argument("--immediate", action="store_true",
                   help="commit after every step (classic behaviour) instead of once at the end")
    g.add_argument("--compress", action="store_const", const=DEFAULT_LEVEL, default=None,
                   help=f"gzip+shuffle the output's arrays (level {DEFAULT_LEVEL}): a smaller file, a slower commit; "
                   "the content is the same (docs/performance.md)")
    g.add_argument("--compress-level", dest="compress", type=_gzip_level, metavar="1-9",
                   help="--compress with this gzip level (1 fastest, 9 smallest)")
    return p


def _gzip_level(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= n <= 9:
        raise argparse.ArgumentTypeError(f"gzip level must be 1 to 9, got {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
    """The ``txpipe`` argument parser (also used to render ``docs/cli.md``)."""
    common, popts = _common(), _pipeline_options()
    parser = argparse.ArgumentParser(
        prog="txpipe",
        description="Turn MCS CMOS-MEA retina recordings (.cmcr + .cmtr) into one self-describing HDF5 file each, "
        "through a transactional, journaled pipeline.",
        epilog="Start with 'txpipe demo'. Exit codes: 0 ok, 1 failed, 2 usage, 3 batch with failures, "
        "4 verify found differences, 130 interrupted, 143 terminated. Docs: docs/index.md",
    )
    parser.add_argument("--version", action="version", version=f"txpipe {__version__}")
    _add_global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("demo", parents=[common], help="make a synthetic recording and run the whole pipeline on it",
                       description="Generate a synthetic recording (baseline, ON/OFF steps, dense noise), run every "
                       "step in one deferred session, write one HDF5 file and print what was done.")
    p.add_argument("--out", type=Path, default=Path("txpipe-demo"), metavar="DIR",
                   help="folder for the recording and the output file (default: ./txpipe-demo)")
    p.add_argument("--immediate", action="store_true", help="commit after every step instead of once at the end")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("run", parents=[common, popts], help="run the whole pipeline on one recording",
                       description="Run load_recording → add_section_time → section_spike_times → compute_sta → "
                       "extract_features on one recording and commit the result to OUT atomically.")
    p.add_argument("cmcr", type=Path, help="raw recording (.cmcr)")
    p.add_argument("cmtr", type=Path, help="spike-sorter result (.cmtr)")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="OUT.h5", help="output HDF5 file")
    p.add_argument("--dataset-id", help="dataset id (default: the .cmtr name without trailing '-')")
    p.add_argument("--checkpoint-after", choices=PIPELINE_STEPS, metavar="STEP",
                   help="also write OUT.after-STEP.h5 right after STEP (one of: %(choices)s)")
    p.add_argument("--resume-from", type=Path, metavar="CKPT.h5",
                   help="continue from a checkpoint of the same run (e.g. OUT.after-STEP.h5): its steps are kept, "
                   "the remaining ones run; fails if its journal does not match this run's plan")
    p.add_argument("--no-overwrite", action="store_true", help="fail if OUT exists instead of replacing it")
    p.add_argument("--force-overwrite-foreign", action="store_true",
                   help="replace OUT even if it exists and is not a txpipe file (never allowed for an input)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("batch", parents=[common, popts], help="run the pipeline on many recordings",
                       description="Run the pipeline on every recording of a CSV list (columns cmcr,cmtr[,dataset_id,"
                       "playlist,playlist_file,movie_length_file,stimuli_dir]) or of a folder (searched recursively "
                       "for *.cmcr with a matching *-.cmtr or *.cmtr). One output file per recording, "
                       "OUTDIR/{dataset_id}.h5. Recordings whose output is complete with a matching journal are "
                       "skipped, so rerunning after a crash completes only what is missing.")
    p.add_argument("source", type=Path, metavar="LIST.csv|DIR", help="recording list or folder")
    p.add_argument("-o", "--out-dir", type=Path, required=True, metavar="OUTDIR", help="output folder")
    p.add_argument("--workers", type=_workers, metavar="N",
                   help="worker processes (default: CPU count; 1 runs in this process)")
    p.add_argument("--scheduler", metavar="local|slurm|ADDRESS",
                   help="run on Dask: 'local' starts a LocalCluster, 'slurm' submits workers as SLURM jobs "
                   "(dask-jobqueue, configured in ~/.config/dask/jobqueue.yaml; --workers is the most jobs at once), "
                   "an address (tcp://host:8786) connects to a running scheduler (needs pip install -e '.[dask]')")
    p.add_argument("--force", action="store_true", help="redo recordings whose output is already complete")
    _path_map_option(p)
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("inspect", parents=[common], help="summarise a txpipe file",
                       description="Print a file's root attributes, units, sections, features and journal.")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--tree", action="store_true", help="also list every group and dataset (one unit shown)")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("verify", parents=[common], help="replay a file's journal and compare",
                       description="Re-run every step of FILE's journal from its recorded inputs and compare the "
                       "result node by node. Prints IDENTICAL (exit 0) or what differs (exit 4).")
    p.add_argument("file", type=Path, metavar="FILE")
    _path_map_option(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("synth", parents=[common], help="write synthetic recordings",
                       description="Write synthetic .cmcr + .cmtr recordings with the lab's side files "
                       "(playlist.csv, movie_length.csv, stimuli/) and their ground truth.")
    p.add_argument("dir", type=Path, metavar="DIR")
    p.add_argument("--count", type=_workers, default=1, metavar="N",
                   help="number of recordings (several go into DIR/NAME_01/, DIR/NAME_02/ …)")
    p.add_argument("--name", default="synthetic-Rec", help="recording name (default: synthetic-Rec)")
    p.add_argument("--units", type=_workers, default=8, metavar="N", help="sorted units per recording (default: 8)")
    p.add_argument("--duration-s", type=float, metavar="S",
                   help="recording length in s (default: the small 49 s protocol; longer uses the full protocol)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("report", parents=[common], help="write an HTML report of a txpipe file",
                       description="Write one self-contained HTML page: journal, chip map, light reference, "
                       "frame edges and sections, per-unit waveform/raster/STA, feature summaries.")
    add_report_arguments(p)
    p.set_defaults(func=cmd_report)

    add_export_parser(sub, common)
    return parser


# --- commands ----------------------------------------------------------------------------------


def _out(text: str = "") -> None:
    print(text, flush=True)


def cmd_demo(args: argparse.Namespace) -> int:
    res, truth = run_demo(args.out, defer=not args.immediate)
    mode = "immediate, one commit per step" if args.immediate else "deferred, one commit at the end"
    _out(f"txpipe demo: synthetic recording {truth.dataset_id} ({len(truth.units)} units, "
         f"{truth.n_samples / truth.fs_hz:.0f} s at {truth.fs_hz:.0f} Hz) in {Path(truth.paths['cmcr']).parent}")
    _out(f"ran         {' → '.join(res.steps)} ({mode})")
    _print_result(res)
    return EXIT_OK


def _print_result(res: RunResult) -> None:
    _out(f"units       {res.n_units}")
    _out(f"sections    {', '.join(res.sections) or 'none'}")
    _out(f"STA units   {res.sta_units}")
    if res.eimage_units:
        _out(f"eimage units {res.eimage_units}")
    _out(f"file size   {human_bytes(res.bytes)}")
    _out(f"time        {res.seconds:.1f} s")
    if res.checkpoint is not None:
        _out(f"checkpoint  {res.checkpoint}")
    _out(str(res.path))


def _run_options(args: argparse.Namespace) -> dict[str, object]:
    return dict(
        playlist=args.playlist,
        playlist_file=args.playlist_file,
        movie_length_file=args.movie_length_file,
        stimuli_dir=args.stimuli_dir,
        pad_margin=None if args.pad_margin is None else tuple(args.pad_margin),
        cover_range=None if args.cover_range is None else tuple(args.cover_range),
        features=args.features,
        eimage=bool(args.eimage or args.eimage_seconds is not None),
        eimage_seconds=args.eimage_seconds,
        defer=not args.immediate,
        compress=args.compress,
        plugins=tuple(args.plugin),
    )


def cmd_run(args: argparse.Namespace) -> int:
    cfg = RunConfig(cmcr=args.cmcr, cmtr=args.cmtr, out=args.out, dataset_id=args.dataset_id,
                    checkpoint_after=args.checkpoint_after, resume_from=args.resume_from,
                    overwrite=not args.no_overwrite, force_overwrite_foreign=args.force_overwrite_foreign,
                    **_run_options(args))
    res = run_pipeline(cfg)
    _out(f"ran         {' → '.join(res.steps)} ({'immediate' if args.immediate else 'deferred'})")
    _print_result(res)
    return EXIT_OK


def cmd_batch(args: argparse.Namespace) -> int:
    check_options(**_run_options(args))  # a bad batch-wide option: one error, before any recording
    recordings = discover(args.source)
    if not recordings:
        raise ConfigurationError(f"{args.source}: no recordings found (*.cmcr files, or rows of a cmcr,cmtr CSV)")
    level, log_json = _log_level(args), args.log_json
    with make_executor(workers=args.workers, scheduler=args.scheduler) as ex:
        link = getattr(ex, "dashboard_link", None)
        if link:
            print(f"txpipe: Dask dashboard: {link}", file=sys.stderr, flush=True)
        report = run_batch(recordings, args.out_dir, executor=ex, force=args.force, path_map=args.path_map,
                           log_json=log_json, log_level=level, **_run_options(args))
    _out(report.table())
    if report.interrupted:
        return EXIT_TERMINATED if report.interrupted == "SIGTERM" else EXIT_INTERRUPTED
    return EXIT_BATCH_FAILURES if report.failed else EXIT_OK


def cmd_inspect(args: argparse.Namespace) -> int:
    _out(format_summary(summarize(args.file, tree=args.tree)))
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    report = verify(args.file, path_map=args.path_map)
    _out(report.summary())
    return EXIT_OK if report.identical else EXIT_DIFFERENT


def cmd_report(args: argparse.Namespace) -> int:
    return run_report(args)


def cmd_synth(args: argparse.Namespace) -> int:
    opts: dict[str, object] = {"n_units": args.units}
    if args.duration_s is not None:

        opts["duration_s"] = args.duration_s
        if args.duration_s >= 60:
            opts["protocol"] = full_protocol(args.duration_s, seed=args.seed)
        else:
            opts["protocol"] = default_protocol(args.seed)
    truths = synth_recordings(args.dir, count=args.count, name=args.name, seed=args.seed, **opts)
    for t in truths:
        _out(f"{t.dataset_id}: {len(t.units)} units, {t.n_samples / t.fs_hz:.1f} s  {t.paths['cmcr']}")
    return EXIT_OK


# --- main --------------------------------------------------------------------------------------


def _log_level(args: argparse.Namespace) -> str:
    if args.quiet:
        return "error"
    return {0: "warning", 1: "info"}.get(args.verbose, "debug")


def _error(message: str) -> None:
    print(f"txpipe: error: {' '.join(message.split())}", file=sys.stderr, flush=True)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that sessions roll back and the exit code is 143."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``txpipe`` console command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)  # usage errors exit with code 2 here
    debug = args.debug
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        configure_logging(json=args.log_json, level=_log_level(args))
        configure_progress(enabled=False if args.quiet else None)
        import_plugins(tuple(args.plugin))
        return int(args.func(args))
    except KeyboardInterrupt as exc:
        if debug:
            traceback.print_exc()
        if isinstance(exc, _Terminated):
            _error("terminated (SIGTERM)")
            return EXIT_TERMINATED
        _error("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:

        if debug:
            traceback.print_exc()
        if isinstance(exc, (TxpipeError, OSError)):
            _error(str(exc) or type(exc).__name__)
        else:
            _error(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
