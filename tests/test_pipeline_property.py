"""
Property test: random valid sequences of pipeline steps, parameters, undos and checkpoints.

For every sequence (SPEC §3): (a) the journal of every committed file (checkpoints and the
final save) replays to identical content (``txpipe.core.replay.verify``), (b) loading a committed
file gives the live state's content digest, and (c) the same sequence run immediately (a commit
after every step and undo) ends with the same content as the deferred run.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txpipe import PipelineSession, pipeline_session, synth
from txpipe.core.replay import verify

FEATURES = ("frif", "baseline_127", "step_response")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, synth.GroundTruth]:
    """A tiny recording (4 units, ~19 s) after load_recording and add_section_time."""
    d = tmp_path_factory.mktemp("prop")
    proto = synth.Protocol((
        synth.gray_movie("baseline_127", 60),
        synth.step_movie("step_up_5s_5i_b0_3x", pre_frames=12, on_frames=12, off_frames=12, repeat=2, post_frames=12),
        synth.noise_movie("dense_noise_6x6", n_frames=120, size=6, seed=1),
    ))
    truth = synth.make_recording(d, protocol=proto, n_units=4, response_kinds=["on", "off", "rf", "rf"], seed=9)
    out = d / "base.h5"
    with pipeline_session(out) as s:
        s.load_recording(truth.paths["cmcr"], truth.paths["cmtr"])
        s.add_section_time(truth.playlist_name, playlist_file=truth.paths["playlist"],
                           movie_length_file=truth.paths["movie_length"])
    return out, truth


OPS = st.one_of(
    st.tuples(st.just("section"), st.sampled_from([(0.0, 0.0), (0.1, 0.05)])),
    st.tuples(st.just("sta"), st.sampled_from([(-20, 0), (-8, 2)]), st.sampled_from(["first", "all"])),
    st.tuples(st.just("features"), st.lists(st.sampled_from(FEATURES), min_size=1, max_size=3, unique=True),
              st.sampled_from([0.5, 1.0]), st.booleans()),
    st.tuples(st.just("undo")),
    st.tuples(st.just("checkpoint")),
)


def apply(s: PipelineSession, op: tuple, truth: synth.GroundTruth, n_base: int) -> bool:
    """Apply *op* if it is valid in the session's current state; return whether it ran."""
    done = {e.step for e in s.journal}
    if op[0] == "section":
        s.section_spike_times(pad_margin=op[1], config_dir=truth.paths["stimuli_dir"])
    elif op[0] == "sta" and "section_spike_times" in done:
        s.compute_sta(cover_range=op[1], trials=op[2], stimuli_dir=truth.paths["stimuli_dir"])
    elif op[0] == "features":
        feats = [f for f in op[1] if f == "frif" or "section_spike_times" in done]
        if not feats:
            return False
        params = {"baseline_127": {"bin_s": op[2]}} if "baseline_127" in feats else None
        s.extract_features(feats, params=params, force=op[3])
    elif op[0] == "undo" and len(s.journal) > n_base:
        s.undo()
    else:
        return False
    return True


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=1, max_size=6))
def test_random_pipelines_replay_identically(base, ops: list[tuple]) -> None:
    """Random valid step/undo/checkpoint sequences: replay, load and immediate mode all agree."""
    base_file, truth = base
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        deferred = PipelineSession.load(base_file, defer=True)
        shutil.copy(base_file, tmp / "immediate.h5")
        immediate = PipelineSession.load(tmp / "immediate.h5")  # SAVED: every step writes through
        n_base = len(deferred.journal)
        for i, op in enumerate(ops):
            if op[0] == "checkpoint":
                ck = deferred.checkpoint(tmp / f"ck{i}.h5")
                assert PipelineSession.load(ck).content_digest() == deferred.content_digest()
                rep = verify(ck)
                assert rep.identical, rep.summary()
                continue
            if apply(deferred, op, truth, n_base):
                apply(immediate, op, truth, n_base)
        final = deferred.save(tmp / "final.h5")
        assert PipelineSession.load(final).content_digest() == deferred.content_digest()
        assert PipelineSession.load(tmp / "immediate.h5").content_digest() == deferred.content_digest()
        rep = verify(final)
        assert rep.identical, rep.summary()
