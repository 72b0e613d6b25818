"""Tests for the public API: every name in txpipe.__all__ is documented in docs/api.md."""

from __future__ import annotations

import re
from pathlib import Path

import txpipe

API_MD = Path(__file__).resolve().parents[1] / "docs" / "api.md"


class TestApiDocs:
    def test_every_public_name_is_documented(self):
        """Each name of txpipe.__all__ has a '### `name`' heading in docs/api.md."""
        documented = set(re.findall(r"^### `([^`]+)`", API_MD.read_text(), flags=re.M))
        missing = sorted(set(txpipe.__all__) - documented)
        assert not missing, f"add these to docs/api.md: {missing}"

    def test_all_is_sorted_and_importable(self):
        """__all__ is sorted and every name in it exists."""
        assert list(txpipe.__all__) == sorted(txpipe.__all__)
        for name in txpipe.__all__:
            assert hasattr(txpipe, name), name
