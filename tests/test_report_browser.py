"""Tests for txpipe.report in a real browser: Debian's headless chromium renders the demo report."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from txpipe.report import SECTION_IDS, render_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no headless browser: Debian's chromium is not installed (apt-get install chromium); "
    "the report's HTML is still checked by tests/test_report.py",
)

WIDTH, HEIGHT = 1400, 3000


def chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """Run headless chromium with a throw-away profile, no network services and no sandbox."""
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={WIDTH},{HEIGHT}", *args,
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, f"chromium failed ({r.returncode}): {r.stderr[-2000:]}"
    return r


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The report of the demo recording (txpipe demo's pipeline, 6 units)."""
    from txpipe.runner.pipeline import run_demo

    res, _ = run_demo(tmp_path_factory.mktemp("demo"), n_units=6)
    return render_report(res.path)


class TestBrowser:
    def test_dom_sections_and_images_decoded(self, report, tmp_path):
        """After load, the DOM has every section and every embedded image decoded (naturalWidth > 0)."""
        dom = chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", report.as_uri()).stdout
        body = re.search(r"<body([^>]*)>", dom)
        assert body, dom[:500]
        n_img = dom.count("<img ")
        assert n_img >= 5
        assert f'data-images="{n_img}"' in body.group(1)
        assert 'data-images-ok="yes"' in body.group(1)
        for sid in SECTION_IDS:
            assert f'<section id="{sid}">' in dom

    def test_screenshot_is_not_blank(self, report, tmp_path):
        """A full-width screenshot of the page shows drawn content, not an empty or error page."""
        from PIL import Image

        shot = tmp_path / "report.png"
        chromium(tmp_path, f"--screenshot={shot}", report.as_uri())
        with Image.open(shot) as im:
            assert im.size == (WIDTH, HEIGHT)
            px = np.asarray(im.convert("L"), dtype=np.float64)
        dark = px < 128  # text, axes, traces
        assert dark.mean() > 0.01
        rows_with_ink = np.flatnonzero(dark.any(axis=1))
        assert rows_with_ink.max() > HEIGHT // 2  # content fills the page beyond the header
