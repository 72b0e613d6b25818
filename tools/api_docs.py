"""
Regenerate the "Public names" section of docs/api.md from the live objects (signatures and
docstrings), keeping the hand-written entries of modules and constants. Run after changing a
public signature: ``python tools/api_docs.py``.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import txpipe
from txpipe.core.step import registered_steps

API_MD = Path(__file__).resolve().parents[1] / "docs" / "api.md"
START, END = "## Public names (`txpipe.__all__`)\n", "## Command-line building blocks\n"


def _first_line(obj: object) -> str:
    return (inspect.getdoc(obj) or "").split("\n\n")[0].replace("\n", " ")


def entry(name: str, obj: object) -> str | None:
    if inspect.isclass(obj):
        head = f"class {name}{inspect.signature(obj)}"
        lines = []
        for n, m in vars(obj).items():
            if n.startswith("_"):
                continue
            if isinstance(m, property):
                lines.append(f"- `{n}` (property): {_first_line(m)}")
            elif isinstance(m, (classmethod, staticmethod)) or inspect.isfunction(m):
                fn = getattr(m, "__func__", m)
                sig = inspect.signature(fn)
                if not isinstance(m, staticmethod):
                    sig = sig.replace(parameters=list(sig.parameters.values())[1:])
                lines.append(f"- `{n}{sig}`: {_first_line(fn)}")
        if obj is txpipe.PipelineSession:
            lines += [f"- `{n}{st.signature}`: the step `{n}` as a method; returns the session (see the step's declaration)"
                      for n, st in registered_steps().items() if st.method]
        tail = ("\n\n" + "\n".join(lines)) if lines else ""
        return f"### `{name}`\n\n```python\n{head}\n```\n\n{inspect.getdoc(obj) or ''}{tail}\n"
    if callable(obj) and not inspect.ismodule(obj):
        return f"### `{name}`\n\n```python\n{name}{inspect.signature(obj)}\n```\n\n{inspect.getdoc(obj) or ''}\n"
    return None  # modules and constants keep their hand-written text


def main() -> None:
    text = API_MD.read_text()
    a, b = text.index(START) + len(START), text.index(END)
    old = {m.group(1): m.group(0) for m in re.finditer(r"### `([^`]+)`\n.*?(?=^### |\Z)", text[a:b], re.S | re.M)}
    parts = []
    for name in sorted(txpipe.__all__, key=lambda n: (n.lower() != n and not n[0].isupper(), n)):
        new = entry(name, getattr(txpipe, name))
        parts.append((new if new is not None else old.get(name, f"### `{name}`\n\n(undocumented)\n")).rstrip() + "\n")
    API_MD.write_text(text[:a] + "\n" + "\n".join(parts) + "\n" + text[b:])


if __name__ == "__main__":
    main()
