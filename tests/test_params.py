"""The parameter declaration mechanism shared by steps and feature extractors."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import txpipe
from txpipe.core.params import Param, ParamSet, as_names, as_number, as_path, as_tuple
from txpipe.errors import ConfigurationError, ParameterError
from txpipe.features import get_extractor


def _check_gain(v):
    if not v > 0:
        raise ParameterError(f"gain must be > 0, got {v!r}")


def decl(state, path: str = Param(normalize=as_path), gain: float = Param(1.0, unit="1", normalize=as_number(float), check=_check_gain),
         *, window: tuple[float, float] = Param((0.0, 1.0), unit="s", help="START STOP", normalize=as_tuple(float, 2)),
         names: list[str] | None = Param(None, normalize=as_names), plain: int = 3):
    raise AssertionError("never called")


PS = ParamSet("demo", decl)


class TestParamSet:
    def test_canonical_fills_defaults_normalises_and_sorts(self, tmp_path, monkeypatch) -> None:
        monkeypatch.chdir(tmp_path)
        out = PS.canonical({"path": "x.csv", "gain": np.int64(2), "window": [0, 3], "names": "a"})
        assert list(out) == sorted(out)
        assert out == {"gain": 2.0, "names": ["a"], "path": str(tmp_path / "x.csv"), "plain": 3, "window": (0.0, 3.0)}
        assert type(out["gain"]) is float and all(type(x) is float for x in out["window"])

    def test_same_call_same_canonical_whatever_the_spelling(self, tmp_path, monkeypatch) -> None:
        monkeypatch.chdir(tmp_path)
        a = PS.canonical(PS.bind(("x.csv", 2), {"window": (0, 3)}))
        b = PS.canonical({"path": tmp_path / "x.csv", "gain": 2.0, "window": [0.0, 3.0], "names": None, "plain": 3})
        assert a == b

    def test_errors(self) -> None:
        with pytest.raises(ParameterError, match=r"unknown parameter\(s\) \['nope'\]"):
            PS.canonical({"path": "x", "nope": 1})
        with pytest.raises(ConfigurationError, match=r"required parameter\(s\) \['path'\]"):
            PS.canonical({})
        with pytest.raises(ParameterError, match="gain must be > 0"):
            PS.canonical({"path": "x", "gain": -1})
        with pytest.raises(ParameterError, match="at most 2 positional"):
            PS.bind(("x", 1, 2), {})
        with pytest.raises(ParameterError, match="both by position and by name"):
            PS.bind(("x",), {"path": "y"})
        with pytest.raises(ParameterError):  # not recordable in a journal
            PS.canonical({"path": "x", "plain": object()})

    def test_signature_and_help(self) -> None:
        sig = PS.signature
        assert list(sig.parameters) == ["path", "gain", "window", "names", "plain"]
        assert sig.parameters["path"].default is inspect.Parameter.empty
        assert sig.parameters["window"].default == (0.0, 1.0)
        assert PS.help("window") == "START STOP [s] (default: 0.0 1.0)"


class TestStepsAndExtractorsShareIt:
    def test_session_method_classic_and_run_take_the_declaration(self) -> None:
        st = txpipe.core.step.get_step("section_spike_times")
        s = txpipe.PipelineSession("x")
        assert inspect.signature(s.section_spike_times) == st.signature
        classic = inspect.signature(txpipe.section_spike_times)
        assert list(classic.parameters)[1:5] == list(st.signature.parameters)
        assert classic.parameters["pad_margin"].default == st.params["pad_margin"].default
        s.discard()

    def test_extractor_params_are_a_param_set(self) -> None:
        ex = get_extractor("baseline_127")
        assert isinstance(ex.params, ParamSet)
        assert ex.canonical_params() == ex.params.canonical({})
        with pytest.raises(ParameterError, match="feature 'baseline_127': unknown parameter"):
            ex.canonical_params({"bogus": 1})
