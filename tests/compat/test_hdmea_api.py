"""
The lab's ``hdmea`` API, written down independently of the shim, against ``txpipe.compat.hdmea``.

``LAB_FUNCTIONS`` lists every public function of the lab's API the shim must provide, by module,
with each parameter's name, kind and default exactly as the lab declares them. The shim must
accept every lab call: each lab parameter exists with the same kind (positional parameters at the
same position) and the same default; a parameter the lab requires may have a default in the shim
(e.g. ``hdf5_path`` may be left out when ``session=`` is given). Extra shim parameters must be
keyword-only with a default (or ``**kwargs``), so no lab call can bind to them by accident.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect

import pytest

REQUIRED = object()  # the lab gives no default
P, K = "positional", "keyword"  # positional-or-keyword / keyword-only

_SECTION_TIME = [
    ("hdf5_path", P, None), ("playlist_name", P, None), ("playlist_file_path", K, None),
    ("movie_length_file_path", K, None), ("repeats", K, 1), ("pad_frame", K, 180),
    ("pre_margin_frame_num", K, 60), ("post_margin_frame_num", K, 120), ("force", K, False),
    ("session", K, None),
]
_ANALOG = [
    ("hdf5_path", P, REQUIRED), ("threshold_value", P, REQUIRED), ("movie_name", K, "iprgc_test"),
    ("plot_duration", K, 120.0), ("repeat", K, None), ("force", K, False),
]
_SECTION_SPIKES = [
    ("hdf5_path", P, None), ("movie_names", K, None), ("trial_repeats", K, 3), ("pad_margin", K, (0.0, 0.0)),
    ("force", K, False), ("config_dir", K, None), ("session", K, None),
]
_STA = [
    ("hdf5_path", P, None), ("cover_range", K, (-60, 0)), ("use_multiprocessing", K, True),
    ("stimuli_dir", K, None), ("force", K, False), ("session", K, None),
]
_LOAD = [
    ("cmcr_path", P, None), ("cmtr_path", P, None), ("dataset_id", P, None), ("output_dir", K, "artifacts"),
    ("force", K, False), ("allow_overwrite", K, False), ("config", K, None), ("session", K, None),
]
_LOAD_EIMAGE = [
    ("cmcr_path", P, REQUIRED), ("cmtr_path", P, REQUIRED), ("dataset_id", P, None), ("output_dir", K, "artifacts"),
    ("force", K, False), ("duration_s", K, 120.0), ("spike_limit", K, 10000), ("unit_ids", K, None),
    ("window_range", K, (-10, 40)), ("cutoff_hz", K, 100.0), ("filter_order", K, 2), ("skip_highpass", K, False),
    ("chunk_duration_s", K, 10.0), ("load_unit_meta", K, True), ("load_sys_meta", K, True), ("session", K, None),
]
_EXTRACT = [
    ("hdf5_path", P, None), ("features", P, None), ("force", K, False), ("config_overrides", K, None),
    ("session", K, None),
]
_CREATE_SESSION = [("dataset_id", P, None), ("cmcr_path", P, None), ("cmtr_path", P, None), ("output_dir", P, "artifacts")]

LAB_FUNCTIONS: dict[str, dict[str, list[tuple[str, str, object]]]] = {
    "txpipe.compat.hdmea.pipeline": {
        "load_recording": _LOAD, "load_recording_with_eimage_sta": _LOAD_EIMAGE, "extract_features": _EXTRACT,
        "create_session": _CREATE_SESSION, "add_section_time": _SECTION_TIME,
    },
    "txpipe.compat.hdmea.io": {"add_section_time": _SECTION_TIME, "section_spike_times": _SECTION_SPIKES},
    "txpipe.compat.hdmea.io.section_time": {"add_section_time": _SECTION_TIME, "add_section_time_analog": _ANALOG},
    "txpipe.compat.hdmea.io.spike_sectioning": {"section_spike_times": _SECTION_SPIKES},
    "txpipe.compat.hdmea.features": {"compute_sta": _STA},
    "txpipe.compat.hdmea.features.sta": {"compute_sta": _STA},
}

# result types: field names in the lab's order (scripts may build or unpack them positionally)
LAB_RESULTS = {
    "LoadResult": ["hdf5_path", "dataset_id", "num_units", "stage1_completed", "warnings"],
    "LoadWithEImageSTAResult": ["hdf5_path", "dataset_id", "num_units", "units_with_sta", "stage1_completed",
                                "elapsed_seconds", "filter_time_seconds", "warnings"],
    "SectionResult": ["success", "units_processed", "movies_processed", "trial_repeats", "pad_margin", "pre_samples",
                      "post_samples", "warnings"],
    "STAResult": ["hdf5_path", "movie_name", "units_processed", "units_failed", "cover_range", "elapsed_seconds",
                  "warnings", "failed_units"],
    "ExtractionResult": ["hdf5_path", "features_extracted", "features_skipped", "features_failed", "warnings"],
}
LAB_RESULTS_EXPORTED = {"txpipe.compat.hdmea.pipeline": ["LoadResult", "LoadWithEImageSTAResult", "ExtractionResult"]}

LAB_SESSION_PROPERTIES = ["dataset_id", "save_state", "hdf5_path", "output_dir", "units", "metadata", "stimulus",
                          "completed_steps", "warnings", "source_files", "is_saved", "is_deferred", "unit_count",
                          "memory_estimate_gb"]
LAB_SESSION_METHODS = {
    "save": [("output_path", P, None), ("overwrite", K, False)],
    "checkpoint": [("path", P, REQUIRED), ("checkpoint_name", K, None), ("overwrite", K, True)],
    "ensure_saved": [("default_path", P, None)],
    "load": [("path", P, REQUIRED)],
}

CASES = [(mod, name, params) for mod, fns in LAB_FUNCTIONS.items() for name, params in fns.items()]


def _kind(p: inspect.Parameter) -> str:
    return K if p.kind is inspect.Parameter.KEYWORD_ONLY else P


def check_signature(fn: object, lab: list[tuple[str, str, object]]) -> None:
    params = inspect.signature(fn).parameters  # type: ignore[arg-type]
    names = list(params)
    for i, (name, kind, default) in enumerate(lab):
        assert name in params, f"missing parameter {name!r}"
        p = params[name]
        if kind == P:
            assert _kind(p) == P and names.index(name) == i, f"{name!r} must be positional #{i}"
        else:
            assert p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD), name
        if default is not REQUIRED:
            assert p.default is not inspect.Parameter.empty, f"{name!r} must have the default {default!r}"
            assert p.default == default and type(p.default) is type(default), f"{name!r}: {p.default!r} != lab {default!r}"
    lab_names = {n for n, _, _ in lab}
    for name, p in params.items():
        if name not in lab_names and p.kind is not inspect.Parameter.VAR_KEYWORD:
            assert p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty, \
                f"extra parameter {name!r} must be keyword-only with a default"


@pytest.mark.parametrize("module,name,lab", CASES, ids=[f"{m.rsplit('.', 1)[-1]}.{n}" for m, n, _ in CASES])
def test_function_matches_lab_signature(module: str, name: str, lab: list) -> None:
    fn = getattr(importlib.import_module(module), name)
    check_signature(fn, lab)


def test_same_function_under_every_lab_path() -> None:
    """One implementation per step: the lab's alternative import paths give the same object."""
    from txpipe.compat.hdmea import features, io, pipeline
    from txpipe.compat.hdmea.features import sta
    from txpipe.compat.hdmea.io import section_time, spike_sectioning

    assert pipeline.add_section_time is io.add_section_time is section_time.add_section_time
    assert io.section_spike_times is spike_sectioning.section_spike_times
    assert features.compute_sta is sta.compute_sta


@pytest.mark.parametrize("name", sorted(LAB_RESULTS))
def test_result_type_fields(name: str) -> None:
    from txpipe.compat.hdmea import results

    cls = getattr(results, name)
    assert [f.name for f in dataclasses.fields(cls)] == LAB_RESULTS[name]
    for module, names in LAB_RESULTS_EXPORTED.items():
        if name in names:
            assert getattr(importlib.import_module(module), name) is cls


def test_session_answers_the_lab_attributes() -> None:
    import txpipe
    from txpipe.compat.hdmea.pipeline import PipelineSession, SaveState, create_session

    s = create_session(dataset_id="2025.04.10-11.12.57-Rec-")
    assert isinstance(s, txpipe.PipelineSession) and isinstance(s, PipelineSession)
    assert SaveState is txpipe.SaveState and {m.name for m in SaveState} >= {"DEFERRED", "SAVED"}
    assert isinstance(SaveState.DEFERRED, enum.Enum)
    for name in LAB_SESSION_PROPERTIES:
        getattr(s, name)  # exists and is readable on a fresh session
    for name, lab in LAB_SESSION_METHODS.items():
        check_signature(getattr(s, name), lab)
    assert s.dataset_id == "2025.04.10-11.12.57-Rec"
    assert s.save_state is SaveState.DEFERRED and s.is_deferred and not s.is_saved
    assert s.unit_count == 0 and dict(s.units) == {} and s.completed_steps == set() and s.warnings == []
    assert s.memory_estimate_gb == 0.0 and dict(s.metadata) == {} and dict(s.stimulus) == {}


LAB_SCRIPT_HEADER = '''\
from hdmea.pipeline import create_session, load_recording, load_recording_with_eimage_sta, extract_features
from hdmea.io import add_section_time, section_spike_times
from hdmea.io.section_time import add_section_time_analog
from hdmea.features import compute_sta
import logging
if True:
    from hdmea.pipeline import add_section_time as ast2
'''


def test_documented_sed_line_rewrites_the_lab_imports(tmp_path) -> None:
    """The ``sed`` command of docs/migrating-from-hdmea.md turns the lab's imports into working ones."""
    import re
    import shlex
    import shutil
    import subprocess
    from pathlib import Path

    if shutil.which("sed") is None:
        pytest.skip("no sed on this machine")
    doc = (Path(__file__).resolve().parents[2] / "docs" / "migrating-from-hdmea.md").read_text()
    (cmd,) = [line for block in re.findall(r"```bash\n(.*?)```", doc, flags=re.S) for line in block.splitlines()
              if line.startswith("sed ")]
    script = tmp_path / "my_script.py"
    script.write_text(LAB_SCRIPT_HEADER)
    subprocess.run(shlex.split(cmd), cwd=tmp_path, check=True)
    text = script.read_text()
    assert "from hdmea" not in text and text.count("from txpipe.compat.hdmea.") == 5
    ns: dict = {}
    exec(compile(text, str(script), "exec"), ns)
    from txpipe.compat.hdmea import features, io, pipeline

    assert ns["compute_sta"] is features.compute_sta and ns["section_spike_times"] is io.section_spike_times
    assert ns["create_session"] is pipeline.create_session and ns["ast2"] is io.add_section_time


def test_documented_config_example_is_valid(tmp_path, monkeypatch) -> None:
    """The TOML example of docs/migrating-from-hdmea.md is read by txpipe.compat.hdmea.config as shown."""
    import re
    import tomllib
    from pathlib import Path

    from txpipe.compat.hdmea import config

    doc = (Path(__file__).resolve().parents[2] / "docs" / "migrating-from-hdmea.md").read_text()
    (block,) = re.findall(r"```toml\n(.*?)```", doc, flags=re.S)
    p = tmp_path / "config.toml"
    p.write_text(block)
    for s in config.SETTINGS.values():
        monkeypatch.delenv(s.env, raising=False)
    monkeypatch.setenv(config.CONFIG_ENV, str(p))
    table = tomllib.loads(block)["hdmea"]
    assert table and all(config.lookup(k) == v for k, v in table.items())
    # and the documented variable names are the ones the code reads
    for s in config.SETTINGS.values():
        assert f"`{s.env}`" in doc and f"`{s.key}`" in doc
