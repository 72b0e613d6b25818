"""Users cannot see the project's internal notes: no references to them in docs/, README.md or
the docstrings of the public API (`help(txpipe.x)`), and no links to files outside the repository."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import txpipe

ROOT = Path(__file__).resolve().parents[1]

INTERNAL = re.compile(
    r"SPEC|§|\b(?:FR|SC|W|P)-[A-Z]?\d+|\bW-D\d+|\bP\d{1,2}\s*[–-]\s*P\d{1,2}|\((?:[^()]*, )?P\d{1,2}\)|[Ii]ssues? ?#?\d+|#\d+\b"
    r"|(?<![\w/])reference/|seed-spec|lab-pipeline(?:-performance)?\.md|mcs-format\.md|closing note"
)
"""Internal ids: spec sections, requirement/weakness/quirk ids, issue numbers, the private
reference folder and its files."""


def _hits(text: str) -> list[str]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        for m in INTERNAL.finditer(line):
            out.append(f"{n}: {m.group(0)!r} in {line.strip()[:120]}")
    return out


def _doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]


@pytest.mark.parametrize("path", _doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_have_no_internal_ids(path):
    assert _hits(path.read_text()) == []


def test_docs_link_only_to_files_in_the_repository():
    """Every relative markdown link of docs/ and README.md points to an existing file."""
    bad = []
    for f in _doc_files():
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", f.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (f.parent / target).exists():
                bad.append(f"{f.relative_to(ROOT)} -> {target}")
    assert bad == []


def _public_objects():
    seen = set()
    yield "txpipe", txpipe
    for name in txpipe.__all__:
        obj = getattr(txpipe, name)
        if id(obj) in seen or not (inspect.isclass(obj) or callable(obj) or inspect.ismodule(obj)):
            continue
        seen.add(id(obj))
        yield f"txpipe.{name}", obj
        if inspect.ismodule(obj):
            continue
        mod = inspect.getmodule(obj)
        if mod is not None and id(mod) not in seen:
            seen.add(id(mod))
            yield mod.__name__, mod
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if not attr.startswith("_") and (callable(member) or isinstance(member, (property, classmethod, staticmethod))):
                    yield f"txpipe.{name}.{attr}", member


def test_public_docstrings_have_no_internal_ids():
    bad = []
    for name, obj in _public_objects():
        target = obj.__func__ if isinstance(obj, (classmethod, staticmethod)) else obj
        doc = inspect.getdoc(target.fget if isinstance(target, property) else target) or ""
        bad += [f"{name}: {h}" for h in _hits(doc)]
    assert bad == []


def test_install_commands_work_from_a_clone():
    """txpipe is installed from a clone: `pip install 'txpipe[extra]'` (a registry name) must not
    be suggested anywhere; `pip install -e '.[extra]'` is."""
    pattern = re.compile(r"pip install\s+['\"]?txpipe\b")
    bad = []
    for f in [*_doc_files(), *sorted((ROOT / "txpipe").rglob("*.py"))]:
        bad += [f"{f.relative_to(ROOT)}:{n}" for n, line in enumerate(f.read_text().splitlines(), 1) if pattern.search(line)]
    assert bad == []
