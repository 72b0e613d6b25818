"""The installed txpipe version (recorded in every journal entry and file)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("txpipe")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
