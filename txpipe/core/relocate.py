"""
Input files recognised by content, not by path.

The journal records, for every input a step read, its resolved path, size, mtime and a digest of
its first and last MiB (:func:`txpipe.core.fingerprint.file_fingerprint`). The same recording
seen through another path (a symlink, a copied folder, a NAS mounted at ``/mnt/nas`` on one
machine and ``/shared`` on another) is the *same* input: what counts is size and sampled digest
(plus the MCS ``ID.InstanceID`` where the caller checks it), never the path or the mtime.

A **path map** rewrites recorded paths for files that moved: ``OLD=NEW`` pairs (``--path-map``
on the command line), applied to the longest matching ``OLD`` prefix at a folder boundary.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from txpipe.core.fingerprint import file_fingerprint
from txpipe.errors import ConfigurationError

PathMap = tuple[tuple[str, str], ...]
"""``((old_prefix, new_prefix), ...)``, absolute, without trailing separators."""


def _norm(p: str | os.PathLike[str]) -> str:
    return os.path.normpath(os.path.abspath(os.path.expanduser(os.fspath(p))))


def parse_path_map(specs: Iterable[str | tuple[str, str]] | Mapping[str, str] | None) -> PathMap:
    """
    ``["OLD=NEW", ...]``, ``[(old, new), ...]`` (e.g. a :data:`PathMap` again) or ``{OLD: NEW}``
    as a :data:`PathMap` (absolute, normalised paths).

    Raises:
        ConfigurationError: an item has no ``=`` or an empty side.
    """
    if not specs:
        return ()
    pairs = list(specs.items()) if isinstance(specs, Mapping) else []
    if not isinstance(specs, Mapping):
        for spec in specs:
            if isinstance(spec, tuple) and len(spec) == 2:
                pairs.append((str(spec[0]), str(spec[1])))
                continue
            old, sep, new = str(spec).partition("=")
            if not sep or not old.strip() or not new.strip():
                raise ConfigurationError(f"path map {spec!r}: expected OLD=NEW (two folders or files)")
            pairs.append((old.strip(), new.strip()))
    return tuple((_norm(old), _norm(new)) for old, new in pairs)


def _under(path: str, prefix: str) -> str | None:
    """The rest of *path* below *prefix* ('' when equal), or None when it is not below it."""
    if path == prefix:
        return ""
    if prefix == os.sep:
        return path[1:]
    if path.startswith(prefix + os.sep):
        return path[len(prefix) + 1 :]
    return None


def apply_path_map(path: str | os.PathLike[str], path_map: PathMap) -> str:
    """*path* with its longest mapped prefix replaced (unchanged when no prefix matches)."""
    p = os.path.normpath(os.fspath(path))
    best: tuple[int, str] | None = None
    for old, new in path_map:
        rest = _under(p, old)
        if rest is not None and (best is None or len(old) > best[0]):
            best = (len(old), os.path.join(new, rest) if rest else new)
    return best[1] if best else p


def map_params(value: Any, path_map: PathMap) -> Any:
    """Recorded (canonical JSON) parameters with every absolute path string rewritten."""
    if not path_map:
        return value
    if isinstance(value, str):
        return apply_path_map(value, path_map) if os.path.isabs(value) else value
    if isinstance(value, list):
        return [map_params(v, path_map) for v in value]
    if isinstance(value, dict):
        return {k: map_params(v, path_map) for k, v in value.items()}
    return value


_PATH = "<path>"


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return _PATH if os.path.isabs(value) else value
    if isinstance(value, list):
        return [_mask(v) for v in value]
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    return value


def params_match_but_paths(recorded: Any, planned: Any) -> bool:
    """Equal parameters once every absolute path is set aside (paths are compared by content)."""
    return _mask(recorded) == _mask(planned)


def path_pairs(recorded: Any, planned: Any) -> list[tuple[str, str]]:
    """``(recorded, planned)`` absolute path strings found at the same place in two parameter sets."""
    out: list[tuple[str, str]] = []
    if isinstance(recorded, str) and isinstance(planned, str):
        if os.path.isabs(recorded) and os.path.isabs(planned):
            out.append((os.path.normpath(recorded), _norm(planned)))
    elif isinstance(recorded, list) and isinstance(planned, list):
        for a, b in zip(recorded, planned):
            out += path_pairs(a, b)
    elif isinstance(recorded, dict) and isinstance(planned, dict):
        for k in recorded.keys() & planned.keys():
            out += path_pairs(recorded[k], planned[k])
    return out


def locate(recorded_path: str, pairs: Sequence[tuple[str, str]] = (), path_map: PathMap = ()) -> Path:
    """
    Where a recorded input file is now.

    *recorded_path* goes through *path_map* first; then, if it is (below) a path recorded as a
    step parameter whose value is now different (*pairs*: recorded → planned), it is moved along
    with it. The recorded input path was resolved (symlinks followed) while the parameter was
    not, so a folder parameter also matches by its last component (``…/stimuli/x.json`` follows
    ``stimuli`` to its new place) and a file parameter by its name.
    """
    p = apply_path_map(recorded_path, path_map)
    for old, new in sorted(pairs, key=lambda ab: -len(ab[0])):
        old = apply_path_map(old, path_map)
        rest = _under(p, old)
        if rest is not None:
            return Path(os.path.join(new, rest) if rest else new)
    for old, new in pairs:
        if os.path.basename(p) == os.path.basename(old) and not os.path.isdir(new):
            return Path(new)
    for old, new in pairs:
        name = os.path.basename(old)
        parts = Path(p).parts
        if name and name in parts[:-1]:
            k = len(parts) - 1 - parts[::-1].index(name)
            cand = Path(new, *parts[k + 1 :])
            if os.path.isdir(new):
                return cand
    return Path(p)


@dataclass(frozen=True)
class InputCheck:
    """One recorded input compared with the file at its current place.

    ``status``: ``"same"`` (size and sampled digest equal; a different path or mtime does not
    matter), ``"changed"`` (another file is there now) or ``"missing"``.
    """

    recorded_path: str
    current_path: str
    status: str
    reason: str = ""

    @property
    def moved(self) -> bool:
        return os.path.normpath(self.recorded_path) != os.path.normpath(self.current_path)

    def describe(self) -> str:
        where = self.current_path if not self.moved else f"{self.current_path} (recorded as {self.recorded_path})"
        return f"{where}: {self.reason}" if self.reason else where


def check_input(recorded: Mapping[str, Any], current: str | os.PathLike[str]) -> InputCheck:
    """Compare a recorded input fingerprint with the file at *current* (size + sampled digest)."""
    rp = str(recorded.get("path", ""))
    try:
        now = file_fingerprint(current)
    except FileNotFoundError:
        return InputCheck(rp, str(current), "missing", "missing")
    except OSError as exc:
        return InputCheck(rp, str(current), "missing", f"unreadable ({exc.strerror or exc})")
    if now["size"] != recorded.get("size"):
        return InputCheck(rp, str(current), "changed", f"size {recorded.get('size')} -> {now['size']} bytes")
    if now["sample_digest"] != recorded.get("sample_digest"):
        return InputCheck(rp, str(current), "changed", "content differs (sampled digest)")
    return InputCheck(rp, str(current), "same")


def changed_inputs(entries: Sequence[Any], planned_params: Sequence[Any] | None = None,
                   path_map: PathMap = ()) -> list[tuple[int, str]]:
    """
    ``(entry index, description)`` of every recorded input of *entries* (journal entries) that
    is missing or holds other content now.

    *planned_params* (canonical JSON parameters of the steps about to run, one per entry) say
    where the inputs are now: a recorded input below a recorded path parameter is looked for
    below the planned value of the same parameter (see :func:`locate`).
    """
    out: list[tuple[int, str]] = []
    for k, e in enumerate(entries):
        pairs = path_pairs(e.params, planned_params[k]) if planned_params is not None and k < len(planned_params) else []
        for inp in e.inputs:
            if not inp.get("path"):
                continue
            chk = check_input(inp, locate(str(inp["path"]), pairs, path_map))
            if chk.status != "same":
                out.append((k, chk.describe()))
    return out
