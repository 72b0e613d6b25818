"""
Settings for the lab-compatible API: the defaults the lab hard-coded to its network share.

The lab's functions default to files on its share (playlist and movie-length CSVs, the folder of
stimulus movies). txpipe assumes no share: these defaults come from configuration, looked up in
this order (the first that is set wins):

1. the argument of the call (``playlist_file_path=...`` etc.);
2. the environment variable (``TXPIPE_PLAYLIST_FILE`` …);
3. the ``[hdmea]`` table of the config file: ``$TXPIPE_CONFIG`` if set, else
   ``$XDG_CONFIG_HOME/txpipe/config.toml`` (``~/.config/txpipe/config.toml``). Relative paths
   in the file are relative to the file's folder.

A setting that is needed and set nowhere raises :class:`~txpipe.errors.ConfigurationError` naming
the argument, the variable and the config file key. ``stimulus_config_dir`` is optional: unset,
the lab's stimulus configs shipped with txpipe are used.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from txpipe.errors import ConfigurationError

CONFIG_ENV = "TXPIPE_CONFIG"
TABLE = "hdmea"


@dataclass(frozen=True)
class Setting:
    """One configurable default: its config-file key, environment variable and meaning."""

    key: str
    env: str
    what: str


SETTINGS: dict[str, Setting] = {
    s.key: s
    for s in (
        Setting("playlist_file", "TXPIPE_PLAYLIST_FILE", "the playlist CSV (playlist_name, movie_names)"),
        Setting("movie_length_file", "TXPIPE_MOVIE_LENGTH_FILE", "the movie-length CSV (movie_name, movie_length in frames)"),
        Setting("stimuli_dir", "TXPIPE_STIMULI_DIR", "the folder of stimulus movies {movie}.npy"),
        Setting("stimulus_config_dir", "TXPIPE_STIMULUS_CONFIG_DIR", "the folder of stimulus configs {movie}.json"),
    )
}


def config_file() -> Path:
    """The config file consulted: ``$TXPIPE_CONFIG``, else ``$XDG_CONFIG_HOME/txpipe/config.toml``."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "txpipe" / "config.toml"


def _from_file(key: str) -> str | None:
    path = config_file()
    if not path.is_file():
        if os.environ.get(CONFIG_ENV):
            raise ConfigurationError(f"{path}: {CONFIG_ENV} names a config file that does not exist")
        return None
    try:
        with open(path, "rb") as f:
            data: dict[str, Any] = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{path}: cannot read the txpipe config file: {exc}") from exc
    table = data.get(TABLE, {})
    if not isinstance(table, dict):
        raise ConfigurationError(f"{path}: [{TABLE}] must be a table")
    unknown = sorted(set(table) - set(SETTINGS))
    if unknown:
        raise ConfigurationError(f"{path}: unknown key(s) {unknown} in [{TABLE}]; known: {sorted(SETTINGS)}")
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{path}: [{TABLE}] {key} must be a non-empty string (a path), got {value!r}")
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else path.parent / p)


def lookup(key: str) -> str | None:
    """The configured value of setting *key* (environment, then config file), or None."""
    s = SETTINGS[key]
    env = os.environ.get(s.env)
    if env:
        return str(Path(env).expanduser())
    return _from_file(key)


def resolve(key: str, given: Any, *, function: str, argument: str, required: bool = True) -> str | None:
    """
    *given* if not None, else the configured value of *key*.

    Raises:
        ConfigurationError: *required* and the setting is set nowhere; the message names the
            argument, the environment variable and the config file key.
    """
    if given is not None:
        return str(given)
    value = lookup(key)
    if value is None and required:
        s = SETTINGS[key]
        raise ConfigurationError(
            f"{function}: {argument}= was not given and no default is configured for {s.what}; "
            f"set the environment variable {s.env}, or `{key} = \"...\"` in the [{TABLE}] table of {config_file()}"
        )
    return value


__all__ = ["CONFIG_ENV", "SETTINGS", "Setting", "config_file", "lookup", "resolve"]
