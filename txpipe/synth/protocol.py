"""
The stimulus protocol of a synthetic recording: movies, playlists and the lab's side files.

A :class:`Protocol` is an ordered playlist of :class:`Movie` s shown at 60 Hz, each movie a block of
``pad + L + 1 + pad`` display frames whose content starts at ``block_start + pad`` (pad = 180);
frames outside content are gray (0.5). Builders: :func:`gray_movie`, :func:`step_movie`,
:func:`noise_movie`, :func:`intensity_movie`, :func:`lab_movie` (from the shipped lab configs in
``txpipe/stimuli``), :func:`default_protocol` and :func:`full_protocol`. ``_write_side_files``
writes ``playlist.csv``, ``movie_length.csv``, ``stimuli/{movie}.json`` and the noise ``.npy``.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from txpipe.errors import ConfigurationError, InputFileError

FRAME_RATE_HZ = 60.0
PAD_FRAMES = 180
GRAY = 0.5


@dataclass(frozen=True, eq=False)
class Movie:
    """One playlist movie.

    ``intensity`` is the full-field mean intensity (0..1) of each content display frame, shape
    (L,). ``pixels`` is the (L, h, w) uint8 0/255 noise movie for noise movies (else None).
    ``config`` is the stimulus JSON written to ``stimuli/{name}.json`` (None: none written).
    """

    name: str
    intensity: np.ndarray
    config: Mapping[str, object] | None = None
    pixels: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        """Content length L in display frames."""
        return int(self.intensity.shape[0])


@dataclass(frozen=True, eq=False)
class Protocol:
    """An ordered playlist of movies shown at ``frame_rate_hz`` with ``pad_frames`` gray padding."""

    movies: tuple[Movie, ...]
    playlist_name: str = "synthetic_playlist"
    pad_frames: int = PAD_FRAMES
    frame_rate_hz: float = FRAME_RATE_HZ

    def block_starts(self) -> np.ndarray:
        """First display frame of each movie block, int64 (n_movies,)."""
        sizes = [2 * self.pad_frames + m.n_frames + 1 for m in self.movies]
        return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)

    def content_starts(self) -> np.ndarray:
        """First content display frame of each movie, int64 (n_movies,)."""
        return self.block_starts() + self.pad_frames

    @property
    def n_frames(self) -> int:
        """Total display frames of the playlist."""
        return int(sum(2 * self.pad_frames + m.n_frames + 1 for m in self.movies))

    def frame_intensity(self) -> np.ndarray:
        """Full-field intensity of every display frame, float64 (n_frames,)."""
        out = np.full(self.n_frames, GRAY)
        for m, c in zip(self.movies, self.content_starts()):
            out[c:c + m.n_frames] = m.intensity
        return out


def _config(name: str, start: int, trial: int, repeat: int, desc: str, **extra: int) -> dict:
    return {"name": name, "description": desc,
            "section_kwargs": {"start_frame": start, "trial_length_frame": trial, "repeat": repeat,
                               **extra}}


def gray_movie(name: str, n_frames: int, *, level: float = GRAY,
               config: Mapping[str, object] | None = None) -> Movie:
    """A uniform movie of *n_frames* display frames at *level* (0..1)."""
    if config is None:
        config = _config(name, 0, n_frames, 1, "uniform gray")
    return Movie(name, np.full(n_frames, float(level)), config)


def step_movie(name: str, *, pre_frames: int = 60, on_frames: int = 60, off_frames: int = 60,
               repeat: int = 3, post_frames: int = 60, on_level: float = 1.0,
               off_level: float = 0.0, base_level: float = GRAY) -> Movie:
    """Full-field steps: *pre_frames* at base, *repeat* × (on, off), *post_frames* at base (frames)."""
    trial = np.concatenate([np.full(on_frames, on_level), np.full(off_frames, off_level)])
    inten = np.concatenate([np.full(pre_frames, base_level), np.tile(trial, repeat),
                            np.full(post_frames, base_level)])
    cfg = _config(name, pre_frames, on_frames + off_frames, repeat,
                  f"full-field ON/OFF steps: {on_frames} on + {off_frames} off frames, {repeat}x")
    return Movie(name, inten, cfg)


def noise_movie(name: str, *, n_frames: int = 1200, size: int = 15, hold_frames: int = 4,
                seed: int = 0, config: Mapping[str, object] | None = None) -> Movie:
    """Binary dense noise (size × size, 0/255), each noise frame held *hold_frames* display frames."""
    rng = np.random.default_rng([seed, 0x4E015E])
    n_noise = -(-n_frames // hold_frames)
    frames = (rng.random((n_noise, size, size)) < 0.5).astype(np.uint8) * np.uint8(255)
    pixels = np.repeat(frames, hold_frames, axis=0)[:n_frames]
    if config is None:
        config = _config(name, 0, n_frames, 1, f"binary dense noise {size}x{size}, "
                         f"{FRAME_RATE_HZ / hold_frames:g} Hz, seed {seed}")
    return Movie(name, pixels.mean(axis=(1, 2)) / 255.0, config, pixels)


def intensity_movie(name: str, intensity: Sequence[float] | np.ndarray, *,
                    config: Mapping[str, object] | None = None) -> Movie:
    """A generic movie given as one full-field intensity (0..1) per content display frame."""
    inten = np.asarray(intensity, dtype=np.float64)
    if inten.ndim != 1 or inten.size == 0 or np.any((inten < 0) | (inten > 1)):
        raise ConfigurationError(f"movie {name!r}: intensity must be a non-empty 1-D array in 0..1")
    if config is None:
        config = _config(name, 0, inten.size, 1, "generic full-field movie")
    return Movie(name, inten, config)


def shipped_config_names() -> tuple[str, ...]:
    """Names (= movie keys) of the lab stimulus configs shipped in ``txpipe/stimuli``."""
    root = resources.files("txpipe.mcs") / "stimuli"
    return tuple(sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".json")))


def load_shipped_config(name: str) -> dict:
    """The shipped lab stimulus config ``txpipe/mcs/stimuli/{name}.json`` as a dict."""
    res = resources.files("txpipe.mcs") / "stimuli" / f"{name}.json"
    if not res.is_file():
        raise InputFileError(f"{res}: no shipped stimulus config {name!r} "
                             f"(have: {', '.join(shipped_config_names())})", path=str(res))
    return json.loads(res.read_text(encoding="utf-8"))


def lab_movie(name: str, *, seed: int = 0) -> Movie:
    """A movie for one shipped lab config, with plausible content and the config's exact values.

    Content length L = start_frame + trials + group gaps + start_frame (frames). The content is
    synthetic (e.g. the noise movie uses our own RNG, not the lab's r42 movie).
    """
    cfg = load_shipped_config(name)
    sk = cfg["section_kwargs"]
    start, trial, rep = sk["start_frame"], sk["trial_length_frame"], sk["repeat"]
    gc, gap = sk.get("group_count", 1), sk.get("group_gap", 0)
    n = 2 * start + gc * rep * trial + (gc - 1) * gap
    if "noise" in name:
        return noise_movie(name, n_frames=n, seed=seed, config=cfg)
    base, trial_i = GRAY, np.full(trial, GRAY)
    levels = [1.0] * gc
    if name.startswith("step_up") and "b0_30x" in name:
        base, trial_i = 0.0, np.r_[np.full(trial // 2, 1.0), np.zeros(trial - trial // 2)]
    elif name.startswith("step_up"):
        base, trial_i = GRAY, np.r_[np.zeros(trial // 2), np.full(trial - trial // 2, GRAY)]
    elif name.startswith("freq_step"):
        t = np.arange(trial // 5) / FRAME_RATE_HZ
        trial_i = np.concatenate([GRAY + GRAY * np.sign(np.sin(2 * np.pi * f * t) + 1e-12)
                                  for f in (0.5, 1, 2, 4, 10)])
        trial_i = np.r_[trial_i, np.full(trial - trial_i.size, GRAY)]
    elif name.startswith("green_blue"):
        q = trial // 4
        base, trial_i = 0.0, np.r_[np.ones(q), np.zeros(q), np.ones(q), np.zeros(trial - 3 * q)]
        if gc == 3:
            levels = [64 / 255, 128 / 255, 1.0]
    elif name.startswith("moving"):
        base = 0.0
        blk = trial // 8
        one = np.r_[np.full(blk // 2, 0.1), np.zeros(blk - blk // 2)]
        trial_i = np.r_[np.tile(one, 8), np.zeros(trial - 8 * blk)]
    inten = [np.full(start, base)]
    for g in range(gc):
        inten += [np.tile(trial_i * (levels[g] if base == 0.0 else 1.0), rep)]
        inten += [np.full(gap, base)] if g < gc - 1 else []
    inten.append(np.full(start, base))
    return Movie(name, np.clip(np.concatenate(inten), 0.0, 1.0), cfg)


def default_protocol(seed: int = 0) -> Protocol:
    """The small test protocol: ``baseline_127`` (180 frames), ``step_up_demo`` (480),
    ``dense_noise_15x15_15hz_demo`` (1200 frames = 20 s); 2,943 display frames ≈ 49 s."""
    return Protocol((lab_movie("baseline_127"), step_movie("step_up_demo"),
                     noise_movie("dense_noise_15x15_15hz_demo", n_frames=1200, seed=seed)))


def full_protocol(duration_s: float, *, seed: int = 0) -> Protocol:
    """A protocol filling roughly *duration_s* seconds (≥ 60 s): baseline, ON/OFF steps repeated
    (about a quarter of the time), and a dense-noise movie taking the rest."""
    avail = int(duration_s * FRAME_RATE_HZ) - 3 * (2 * PAD_FRAMES + 1) - 180 - 120 - 300
    if avail < 1200:
        raise ConfigurationError(f"full_protocol: duration_s={duration_s} is too short (need ≥ 60 s)")
    n_rep = max(3, int(0.25 * avail) // 120)
    n_noise = (avail - n_rep * 120) // 4 * 4
    return Protocol((lab_movie("baseline_127"), step_movie("step_up_on_off", repeat=n_rep),
                     noise_movie("dense_noise_15x15_15hz", n_frames=n_noise, seed=seed)))


def _write_side_files(out: Path, protocol: Protocol) -> dict[str, str]:
    """playlist.csv, movie_length.csv, stimuli/{movie}.json and the noise .npy (lab formats)."""
    names = [m.name for m in protocol.movies]
    paths = {"playlist": str(out / "playlist.csv"), "movie_length": str(out / "movie_length.csv"),
             "stimuli_dir": str(out / "stimuli")}
    with open(out / "playlist.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["playlist_name", "movie_names"])
        w.writerow([protocol.playlist_name, repr([f"{n}.mov" for n in names])])
    with open(out / "movie_length.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["movie_name", "movie_length"])
        w.writerows([m.name, m.n_frames] for m in protocol.movies)
    for m in protocol.movies:
        if m.config is not None:
            p = out / "stimuli" / f"{m.name}.json"
            p.write_text(json.dumps(m.config, indent=4) + "\n")
            paths[f"config:{m.name}"] = str(p)
        if m.pixels is not None:
            p = out / "stimuli" / f"{m.name}.npy"
            np.save(p, m.pixels)
            paths[f"movie:{m.name}"] = str(p)
    return paths
