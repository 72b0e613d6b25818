"""
Stimulus JSON configs: trial structure of each movie (reference ``lab-pipeline.md`` §3.2).

A config is ``{movie}.json`` (the file name is the key; the ``name`` field inside is ignored).
Only its ``section_kwargs`` object is used; its fields are display frames counted from the
movie's first content frame:

==================  ========  =========  ==========================================
field               required  rule       meaning (frames)
==================  ========  =========  ==========================================
start_frame         yes       int ≥ 0    offset of trial 0 from the content start
trial_length_frame  yes       int > 0    length of each trial
repeat              yes       int ≥ 1    trials per group
group_count         no (1)    int ≥ 1    number of groups (e.g. intensity levels)
group_gap           no (0)    int ≥ 0    extra frames after each completed group
==================  ========  =========  ==========================================

Configs are read from ``config_dir`` when given, else from the lab's configs shipped as package
data (``txpipe/mcs/stimuli/*.json``). All configs a step needs are checked before any work, and every
problem (missing file, bad JSON, bad field) is reported together in one error.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from txpipe.errors import InputFileError
from txpipe.core.fingerprint import value_digest

_REQUIRED = {"start_frame": 0, "trial_length_frame": 1, "repeat": 1}
_OPTIONAL = {"group_count": (1, 1), "group_gap": (0, 0)}  # name: (default, minimum)


@dataclass(frozen=True)
class StimulusConfig:
    """The trial structure of one movie (display frames) and where it came from."""

    movie: str
    path: str  # file it was read from
    start_frame: int
    trial_length_frame: int
    repeat: int
    group_count: int = 1
    group_gap: int = 0

    @property
    def n_trials(self) -> int:
        """Trials in one occurrence of the movie: group_count × repeat."""
        return self.group_count * self.repeat

    @property
    def section_kwargs(self) -> dict[str, int]:
        """The validated ``section_kwargs`` (defaults filled in)."""
        return {"start_frame": self.start_frame, "trial_length_frame": self.trial_length_frame, "repeat": self.repeat,
                "group_count": self.group_count, "group_gap": self.group_gap}

    @property
    def digest(self) -> str:
        """Digest of :attr:`section_kwargs` (what the step actually used)."""
        return value_digest(self.section_kwargs)

    def trial_frames(self, content_start_frame: int) -> np.ndarray:
        """
        Trial boundaries in display frames for a movie whose content starts at *content_start_frame*.

        Trial n (group g = n // repeat) starts at ``content_start + start_frame + n·trial_length
        + g·group_gap`` and ends ``trial_length`` frames later.

        Returns:
            int64 (n_trials, 2): [start_frame, end_frame) per trial.
        """
        n = np.arange(self.n_trials, dtype=np.int64)
        start = content_start_frame + self.start_frame + n * self.trial_length_frame + (n // self.repeat) * self.group_gap
        return np.column_stack([start, start + self.trial_length_frame])


def config_problems(data: object) -> list[str]:
    """Everything wrong with a parsed config (empty list: valid)."""
    if not isinstance(data, dict):
        return [f"top level must be a JSON object, got {type(data).__name__}"]
    sk = data.get("section_kwargs")
    if not isinstance(sk, dict):
        return ["no 'section_kwargs' object"]
    problems = []
    for name, lo in _REQUIRED.items():
        if name not in sk:
            problems.append(f"section_kwargs.{name} is missing")
    for name, lo in {**_REQUIRED, **{k: v[1] for k, v in _OPTIONAL.items()}}.items():
        if name not in sk:
            continue
        v = sk[name]
        if isinstance(v, bool) or not isinstance(v, int):
            problems.append(f"section_kwargs.{name} must be an integer, got {json.dumps(v)}")
        elif v < lo:
            problems.append(f"section_kwargs.{name} must be >= {lo}, got {v}")
    return problems


def _locate(movie: str, config_dir: str | os.PathLike[str] | None) -> Path | None:
    if config_dir is not None:
        p = Path(config_dir) / f"{movie}.json"
        return p if p.is_file() else None
    res = resources.files("txpipe.mcs") / "stimuli" / f"{movie}.json"
    if not res.is_file():
        return None
    return Path(str(res))  # an installed package (wheel or editable) keeps its data as files


def shipped_dir() -> Path:
    """The folder of the configs shipped with txpipe."""
    return Path(str(resources.files("txpipe.mcs") / "stimuli"))


def load_configs(movies: list[str] | tuple[str, ...], config_dir: str | os.PathLike[str] | None = None) -> dict[str, StimulusConfig]:
    """
    Load and validate the config of every movie in *movies*.

    Args:
        movies: movie keys.
        config_dir: folder holding ``{movie}.json``; None: the configs shipped with txpipe.

    Returns:
        ``{movie: StimulusConfig}`` in the order of *movies*.

    Raises:
        InputFileError: one error listing every missing, unreadable or invalid config.
    """
    where = str(config_dir) if config_dir is not None else f"{shipped_dir()} (shipped configs)"
    if config_dir is not None and not Path(config_dir).is_dir():
        raise InputFileError(f"{config_dir}: stimulus config folder not found", path=str(config_dir))
    out: dict[str, StimulusConfig] = {}
    problems: list[str] = []
    for movie in movies:
        p = _locate(movie, config_dir)
        if p is None:
            problems.append(f"{movie}: no {movie}.json in {where}")
            continue
        try:
            data = json.loads(p.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(f"{p}: not valid JSON ({exc})")
            continue
        bad = config_problems(data)
        if bad:
            problems.extend(f"{p}: {b}" for b in bad)
            continue
        sk = data["section_kwargs"]
        out[movie] = StimulusConfig(movie, str(p), sk["start_frame"], sk["trial_length_frame"], sk["repeat"],
                                    sk.get("group_count", 1), sk.get("group_gap", 0))
    if problems:
        folder = str(config_dir) if config_dir is not None else str(shipped_dir())
        raise InputFileError(f"stimulus config validation failed ({len(problems)} problem(s)):\n  " + "\n  ".join(problems),
                             path=folder)
    return out


__all__ = ["StimulusConfig", "config_problems", "load_configs", "shipped_dir"]
