"""
Which movie is which: the lab's naming rules for the dense-noise and full-field step movies.

Every entry point (session methods, classic functions, ``txpipe run``/``batch``, the report)
asks these functions, so the same state always gives the same choice.
"""

from __future__ import annotations

from collections.abc import Iterable

from txpipe.errors import ConfigurationError

DEFAULT_STEP_MOVIE = "step_up_5s_5i_b0_3x"
"""The lab's ON/OFF step movie; preferred when several step movies were shown."""


def is_noise_movie(name: str) -> bool:
    """A dense-noise movie: its name contains ``noise`` (any case)."""
    return "noise" in name.lower()


def noise_movie(movies: Iterable[str]) -> str:
    """
    The one dense-noise movie among *movies* (the sectioned movies).

    Raises:
        ConfigurationError: none or several (the message lists the candidates).
    """
    movies = list(movies)
    cands = [m for m in movies if is_noise_movie(m)]
    if len(cands) != 1:
        what = "no movie" if not cands else f"{len(cands)} movies ({cands})"
        raise ConfigurationError(f"{what} with 'noise' in the name among the sectioned movies {movies}; pass movie=NAME")
    return cands[0]


def step_movie(movies: Iterable[str]) -> str | None:
    """The full-field step movie among *movies*: :data:`DEFAULT_STEP_MOVIE` if present, else the
    only movie whose name starts with ``step`` (any case); None if there is no such single movie."""
    movies = list(movies)
    if DEFAULT_STEP_MOVIE in movies:
        return DEFAULT_STEP_MOVIE
    cands = sorted({m for m in movies if m.lower().startswith("step")})
    return cands[0] if len(cands) == 1 else None


__all__ = ["DEFAULT_STEP_MOVIE", "is_noise_movie", "noise_movie", "step_movie"]
