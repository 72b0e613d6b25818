"""
The ``txpipe export`` command: ``txpipe export nwb FILE.h5|DIR [-o OUT.nwb|OUTDIR] [--metadata M]``.

Kept apart from :mod:`txpipe.runner.cli`; pynwb is imported only when an export runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from txpipe.export.nwb import load_metadata, to_nwb, to_nwb_many

EXIT_OK = 0


def add_export_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]",
                      common: argparse.ArgumentParser) -> None:
    """Add ``export`` (with its ``nwb`` subcommand) to the ``txpipe`` subcommands *sub*."""
    p = sub.add_parser("export", help="export txpipe files to other formats (NWB)",
                       description="Export txpipe files for the tools the field uses. 'txpipe export nwb' writes "
                       "NWB 2.x (needs pip install -e '.[nwb]' in the txpipe clone); mapping in docs/interop.md.")
    fmt = p.add_subparsers(dest="format", metavar="FORMAT", required=True)
    n = fmt.add_parser("nwb", parents=[common], help="write NWB 2.x files (DANDI, Neurosift, matnwb, SpikeInterface)",
                       description="Export one txpipe file, or every *.h5 txpipe file of a folder, to NWB 2.x. "
                       "The MCS recording time has no time zone: give one (and the subject for DANDI) in "
                       "the metadata file. Each NWB file is written atomically.")
    n.add_argument("source", type=Path, metavar="FILE.h5|DIR", help="a txpipe file or a folder of them")
    n.add_argument("-o", "--out", type=Path, metavar="OUT.nwb|OUTDIR",
                   help="output file (for one FILE) or folder (for a DIR); default: beside the input, .nwb suffix")
    n.add_argument("--metadata", type=Path, metavar="META.yaml",
                   help="YAML or JSON file: timezone (required), subject {subject_id, species, sex, age}, "
                   "experimenter, institution, lab, session_description, ... (see docs/interop.md)")
    n.set_defaults(func=cmd_export_nwb)


def cmd_export_nwb(args: argparse.Namespace) -> int:
    """Run ``txpipe export nwb``; prints one line per NWB file written."""
    meta = load_metadata(args.metadata)
    src: Path = args.source
    if src.is_dir():
        written = to_nwb_many(src, args.out, meta)
        if not written:
            print(f"{src}: no txpipe *.h5 file to export", flush=True)
    else:
        out = args.out
        if out is None:
            out = src.with_suffix(".nwb")
        elif out.is_dir():
            out = out / f"{src.stem}.nwb"
        written = [to_nwb(src, out, meta)]
    for w in written:
        print(f"wrote {w}", flush=True)
    return EXIT_OK


__all__ = ["add_export_parser", "cmd_export_nwb"]
