"""Tests for the feature registry and the extract_features step (caching, errors, classic call)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import txpipe
from handmade_state import state_from_dict
from txpipe import synth
from txpipe.errors import ConfigurationError, MissingPrerequisiteError, ParameterError, StepError
from txpipe.features import Output, extractor, get_extractor, list_extractors, unregister
from txpipe.steps.extract_features import ExtractionResult, extract_features_step


@pytest.fixture(scope="module")
def sectioned(tmp_path_factory: pytest.TempPathFactory):
    """A file after steps 1–3 of the default synthetic recording, and its ground truth."""
    d = tmp_path_factory.mktemp("feat")
    truth = synth.make_recording(d, seed=2)
    out = d / "sectioned.h5"
    with txpipe.pipeline_session(out) as s:
        s.load_recording(truth.paths["cmcr"], truth.paths["cmtr"])
        s.add_section_time(truth.playlist_name, playlist_file=truth.paths["playlist"],
                           movie_length_file=truth.paths["movie_length"])
        s.section_spike_times(config_dir=truth.paths["stimuli_dir"])
    return out, truth


@pytest.fixture()
def session(sectioned):
    """A DEFERRED session loaded from the sectioned file."""
    s = txpipe.PipelineSession.load(sectioned[0], defer=True)
    yield s
    s.discard()


def notes(s) -> dict:
    return s.journal[-1].notes


class TestRegistry:
    """Declaring extractors."""

    def test_builtins_registered(self) -> None:
        """frif, baseline_127 and step_response are registered with versions and schemas."""
        assert {"frif", "baseline_127", "step_response"} <= set(list_extractors())
        ex = get_extractor("frif")
        assert ex.version == "1" and ex.outputs["FRIF"] == Output("float32", "spikes/s", ex.outputs["FRIF"].description)

    def test_unknown_name_lists_registered(self) -> None:
        """An unknown feature name is a ConfigurationError listing the registered ones."""
        with pytest.raises(ConfigurationError, match="frif"):
            get_extractor("nope")

    @pytest.mark.parametrize("name", ["sta_x", "bad name", ""])
    def test_bad_names(self, name: str) -> None:
        """Reserved or malformed names are refused."""
        with pytest.raises(ConfigurationError):
            extractor(name, version="1", outputs={"a": "float"})

    def test_params_must_have_defaults(self) -> None:
        """Extractor parameters are keyword-only with defaults."""
        with pytest.raises(ConfigurationError, match="keyword-only"):
            @extractor("t_nodefault", version="1", outputs={"a": "float"})
            def f(unit, x):  # pragma: no cover
                return {}

    def test_duplicate_name(self) -> None:
        """Another function may not take a registered name."""
        with pytest.raises(ConfigurationError, match="already registered"):
            @extractor("frif", version="9", outputs={"a": "float"})
            def other(unit):  # pragma: no cover
                return {}

    def test_unknown_parameter(self) -> None:
        """Unknown parameters name the known ones."""
        with pytest.raises(ParameterError, match="include_x_axis"):
            get_extractor("frif").canonical_params({"bogus": 1})


class TestCustomExtractor:
    """A user extractor in a few lines runs like the built-ins."""

    def test_custom_runs_and_is_checked(self, session) -> None:
        """Declared inputs are read per unit; outputs are cast to the schema."""

        @extractor("n_spikes_test", version="1", inputs=("spike_times", "/metadata/acquisition_rate"),
                   outputs={"n": ("int", "spikes"), "rate": ("float", "spikes/s"), "isi": ("float32", "s")})
        def n_spikes_test(unit, *, scale: float = 1.0):
            st = unit["spike_times"]
            dur_s = (st.max() - st.min()) / unit.fs_hz if st.size > 1 else 1.0
            return {"n": st.size, "rate": scale * st.size / dur_s, "isi": np.diff(st) / unit.fs_hz}

        try:
            session.extract_features(["n_spikes_test"], params={"n_spikes_test": {"scale": 2.0}})
            uid = session.units[0]
            g = f"units/{uid}/features/n_spikes_test"
            assert session.state[f"{g}/n"] == session.state[f"units/{uid}/spike_times"].size
            assert isinstance(session.state[f"{g}/rate"], float)
            assert session.state[f"{g}/isi"].dtype == np.float32
            a = session.state.attrs(g)
            assert a["extractor_version"] == "1" and json.loads(a["params"]) == {"scale": 2.0}
        finally:
            unregister("n_spikes_test")

    def test_schema_violation(self, session) -> None:
        """An output not in the schema is a StepError naming the unit; nothing is applied."""

        @extractor("bad_schema_test", version="1", outputs={"a": "float"})
        def bad(unit):
            return {"b": 1.0}

        try:
            n = len(session.journal)
            with pytest.raises(StepError, match="undeclared: \\['b'\\]"):
                session.extract_features(["bad_schema_test"])
            assert len(session.journal) == n
        finally:
            unregister("bad_schema_test")

    def test_extractor_exception_keeps_cause(self, session) -> None:
        """An extractor's exception becomes a StepError naming the feature and unit."""

        @extractor("boom_test", version="1", outputs={"a": "float"})
        def boom(unit):
            raise ZeroDivisionError("boom")

        try:
            with pytest.raises(StepError, match="boom_test.*unit_") as ei:
                session.extract_features(["boom_test"])
            assert isinstance(ei.value.__cause__, ZeroDivisionError)
        finally:
            unregister("boom_test")


class TestCaching:
    """Per-unit caching compares version, parameters and inputs."""

    def test_identical_is_not_recomputed(self, session) -> None:
        """A second identical run computes nothing; other params recompute."""
        session.extract_features(["frif", "baseline_127"])
        assert notes(session)["computed"] == {"frif": 8, "baseline_127": 8}
        before = session.state[f"units/{session.units[0]}/features/frif/FRIF"]
        session.extract_features(["frif", "baseline_127"])
        assert notes(session)["computed"] == {"frif": 0, "baseline_127": 0}
        assert notes(session)["cached"] == {"frif": 8, "baseline_127": 8}
        assert session.state[f"units/{session.units[0]}/features/frif/FRIF"] is before
        session.extract_features(["baseline_127"], params={"baseline_127": {"bin_s": 0.5}})
        assert notes(session)["computed"] == {"baseline_127": 8}
        session.extract_features(["frif"], force=True)
        assert notes(session)["computed"] == {"frif": 8}

    def test_version_change_recomputes(self, session) -> None:
        """A stored result of another extractor version is recomputed."""
        session.extract_features(["frif"])
        ex = get_extractor("frif")
        import dataclasses

        from txpipe.features import registry

        registry._REGISTRY["frif"] = dataclasses.replace(ex, version="2")
        try:
            session.extract_features(["frif"])
            assert notes(session)["computed"] == {"frif": 8}
            assert session.state.attrs(f"units/{session.units[0]}/features/frif")["extractor_version"] == "2"
        finally:
            registry._REGISTRY["frif"] = ex

    def test_changed_input_recomputes(self) -> None:
        """A unit whose spike times changed is recomputed, the others are not."""
        vals = {f"/units/u{i}/spike_times": np.arange(i, 100, 7, dtype=np.uint64) for i in range(3)}
        vals.update({"/metadata/frame_timestamps": np.arange(0, 120, 10, dtype=np.uint64),
                     "/metadata/acquisition_rate": 1000.0})
        ch = extract_features_step(state_from_dict(vals), features=["frif"])
        attrs = {str(op.path): op.attrs for op in ch.ops if type(op).__name__ == "SetAttrs"}
        vals2 = dict(vals)
        vals2["/units/u1/spike_times"] = np.arange(1, 50, 7, dtype=np.uint64)
        for i in range(3):  # pretend the results are stored
            for op in ch.ops:
                if hasattr(op, "value") and f"/u{i}/" in str(op.path):
                    vals2[str(op.path)] = op.value
        ch2 = extract_features_step(state_from_dict(vals2, attrs), features=["frif"])
        assert ch2.notes["computed"] == {"frif": 1} and ch2.notes["cached"] == {"frif": 2}


class TestStepErrors:
    """Prerequisites and parameters."""

    def test_missing_input_names_unit_path_and_step(self) -> None:
        """frif without frame timestamps names the unit, the path and load_recording."""
        st = state_from_dict({"/units/unit_007/spike_times": np.zeros(0, np.uint64), "/metadata/acquisition_rate": 1.0})
        with pytest.raises(MissingPrerequisiteError, match="unit_007.*/metadata/frame_timestamps.*load_recording"):
            extract_features_step(st, features=["frif"])

    def test_default_set_skips_unavailable(self, session) -> None:
        """features=None runs the built-ins whose inputs exist; step_response runs on the one
        sectioned step* movie (the same movie rule as ``txpipe run``)."""
        session.extract_features()
        assert notes(session)["features"] == ["frif", "baseline_127", "step_response"]
        params = json.loads(session.state.attrs(f"units/{session.units[0]}/features/step_response")["params"])
        assert params["movie"] == "step_up_demo"

    def test_params_for_feature_not_run(self, session) -> None:
        """Parameters for a feature that is not run are an error, not silently ignored."""
        with pytest.raises(ParameterError, match="baseline_127"):
            session.extract_features(["frif"], params={"baseline_127": {"bin_s": 1.0}})

    def test_requires_load_recording(self) -> None:
        """A fresh session has no load_recording: MissingPrerequisiteError naming it."""
        s = txpipe.PipelineSession("x")
        with pytest.raises(MissingPrerequisiteError, match="load_recording"):
            s.extract_features(["frif"])


class TestClassicCall:
    """extract_features(path, features) writes immediately and returns a result."""

    def test_path_call(self, sectioned, tmp_path) -> None:
        """The file gets the features; the result lists them with counts."""
        import shutil

        p = tmp_path / "copy.h5"
        shutil.copy(sectioned[0], p)
        r = txpipe.extract_features(p, ["frif", "step_response"], params={"step_response": {"movie": "step_up_demo"}})
        assert isinstance(r, ExtractionResult) and r.features_extracted == ["frif", "step_response"]
        assert r.n_computed == {"frif": 8, "step_response": 8}
        s = txpipe.PipelineSession.load(p)
        on_units = [u for u in sectioned[1].units if u.kind == "on"]
        for u in on_units:
            idx = s.state[f"units/unit_{u.unit_num:03d}/features/step_response/on_off_index"]
            assert idx > 0.3, u
        for u in [u for u in sectioned[1].units if u.kind == "off"]:
            assert s.state[f"units/unit_{u.unit_num:03d}/features/step_response/on_off_index"] < -0.3, u


class TestDocsExample:
    """The custom-extractor example in docs/features.md runs as written."""

    def test_docs_example_runs(self, session) -> None:
        """Execute the documented code block on a sectioned session."""
        from pathlib import Path

        text = (Path(__file__).parents[2] / "docs" / "features.md").read_text()
        block = text.split("## Writing your own extractor", 1)[1].split("```python", 1)[1].split("```", 1)[0]
        try:
            exec(compile(block, "docs/features.md", "exec"), {"s": session})
            v = session.state[f"units/{session.units[0]}/features/burst_fraction/burst_fraction"]
            assert isinstance(v, float) and 0.0 <= v <= 1.0
        finally:
            unregister("burst_fraction")
