"""
Electrical image (``compute_eimage_sta``) on synthetic recordings with a planted sensor stream.

The reference is independent of txpipe's kernel: the sensor window read whole with h5py, scipy
``sosfiltfilt`` over the whole window in float64 (per channel block), then one window per spike in
a Python loop.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
from scipy import signal

import txpipe
from txpipe import synth
from txpipe.errors import McsFormatError, MissingPrerequisiteError, ParameterError
from txpipe.kernels import eimage as ke

FS = 20000.0
WINDOW_S = 0.8
N = int(WINDOW_S * FS)
LO, HI = -10, 40
SENSOR = "Acquisition/Sensor Data/SensorData 1 1"


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> synth.GroundTruth:
    return synth.make_recording(tmp_path_factory.mktemp("eimage"), protocol=synth.Protocol((synth.gray_movie("gray", 60),)),
                                n_units=4, rate_range_hz=(25.0, 40.0), sensor_seconds=1.2, seed=3,
                                edge=("spikes_at_bounds",))


@pytest.fixture(scope="module")
def reference_filtered(rec: synth.GroundTruth) -> np.ndarray:
    """scipy sosfiltfilt of the whole analysis window, float64 (N, 4225), channel index (row-1)*65 + col-1."""
    with h5py.File(rec.paths["cmcr"], "r") as f:
        x = f[SENSOR][:N].reshape(N, -1)
    sos = signal.butter(2, 100.0 / (FS / 2), "high", output="sos")
    out = np.empty(x.shape, np.float64)
    for c in range(0, x.shape[1], 512):
        out[:, c:c + 512] = signal.sosfiltfilt(sos, x[:, c:c + 512].astype(np.float64), axis=0)
    return out


def _reference_image(y: np.ndarray, spikes: np.ndarray, limit: int = 10**9) -> tuple[np.ndarray, int]:
    used = [s for s in np.sort(spikes) if s + LO >= 0 and s + HI <= y.shape[0]][:limit]
    acc = np.zeros((HI - LO, y.shape[1]))
    for s in used:  # one window per spike
        acc += y[s + LO:s + HI]
    return (acc / len(used)).reshape(HI - LO, 65, 65), len(used)


@pytest.fixture(scope="module")
def session(rec: synth.GroundTruth) -> txpipe.PipelineSession:
    s = txpipe.load_recording(rec.paths["cmcr"], rec.paths["cmtr"], defer_save=True)
    s.compute_eimage_sta(duration_s=WINDOW_S, chunk_duration_s=0.13)
    s._discarded = True
    return s


def _image(s: txpipe.PipelineSession, uid: str) -> np.ndarray:
    return np.asarray(s.state[f"units/{uid}/features/eimage_sta/data"])


def test_matches_whole_window_sosfiltfilt(rec, session, reference_filtered) -> None:
    for u in rec.units:
        uid = f"unit_{u.unit_num:03d}"
        img = _image(session, uid)
        ref, n_used = _reference_image(reference_filtered, u.spike_samples)
        a = session.state.attrs(f"units/{uid}/features/eimage_sta/data")
        assert img.shape == (HI - LO, 65, 65) and img.dtype == np.float32
        assert a["n_spikes"] == n_used > 10
        peak = np.abs(ref).max()
        assert np.abs(img - ref).max() <= 1e-4 * peak, uid


def test_identical_for_any_chunk_size(rec, session) -> None:
    base = {u.unit_num: _image(session, f"unit_{u.unit_num:03d}") for u in rec.units}
    for chunk_s in (0.0502, 0.5, 10.0):
        s = txpipe.load_recording(rec.paths["cmcr"], rec.paths["cmtr"], defer_save=True)
        s.compute_eimage_sta(duration_s=WINDOW_S, chunk_duration_s=chunk_s)
        s._discarded = True
        for num, img in base.items():
            other = _image(s, f"unit_{num:03d}")
            assert np.abs(other - img).max() <= 1e-6 * np.abs(img).max(), (chunk_s, num)


def test_numpy_and_numba_kernels_agree_with_scipy() -> None:
    pytest.importorskip("numba", reason="numba is the optional 'fast' extra")
    rng = np.random.default_rng(0)
    n, c = 6000, 23
    x = (rng.normal(0, 15, (n, c)) + rng.integers(-1500, 1500, c) + np.linspace(0, 200, n)[:, None]).astype(np.int16)
    hp = ke.design_highpass(FS, 100.0, 2)
    y = signal.sosfiltfilt(signal.butter(2, 100.0 / (FS / 2), "high", output="sos"), x.astype(np.float64), axis=0)
    spikes = [np.array([-LO, 100, 2999, 3000, n - HI]), np.array([50, 51, 4000])]
    want = np.stack([sum(y[s + LO:s + HI] for s in sp) for sp in spikes])
    for kernel, chunks in (("numba", (300, 1000, 2500, n)), ("numpy", (2500, n))):
        for chunk in chunks:
            got = ke.stream_eimage(lambda a, b: x[a:b], n, c, spikes, (LO, HI), hp, chunk, kernel=kernel).sums
            assert np.abs(got - want).max() <= 1e-6 * np.abs(want).max(), (kernel, chunk)


@pytest.mark.parametrize("order,cutoff", [(1, 100.0), (2, 100.0), (4, 300.0)])
def test_numba_sub_steps_blocks_and_sections_match_scipy(monkeypatch, order: int, cutoff: float) -> None:
    """Small sub-steps and read steps (several per call, pending rows carried between calls), channels
    spread over several blocks with a partial last one, and cascades of one to two sections."""
    pytest.importorskip("numba", reason="numba is the optional 'fast' extra")
    rng = np.random.default_rng(order)
    n, c = 9000, 300
    x = (rng.normal(0, 15, (n, c)) + rng.integers(-1500, 1500, c) + np.linspace(0, 300, n)[:, None]).astype(np.int16)
    hp = ke.design_highpass(FS, cutoff, order)
    y = signal.sosfiltfilt(signal.butter(order, cutoff / (FS / 2), "high", output="sos"), x.astype(np.float64), axis=0)
    spikes = [np.array([-LO, 700, 2047, 2048, 2049, 5000, n - HI]), np.arange(-LO, n - HI, 613), np.array([4321])]
    want = np.stack([sum(y[s + LO:s + HI] for s in sp) for sp in spikes])
    monkeypatch.setattr(ke, "SUB_ROWS", 512)
    monkeypatch.setattr(ke, "STREAM_ROWS", 1280)
    monkeypatch.setattr(ke, "FUSED_BLOCK", 128)
    for chunk in (700, 5000, n):
        done: list[int] = []
        got = ke.stream_eimage(lambda a, b: x[a:b], n, c, spikes, (LO, HI), hp, chunk, kernel="numba",
                               on_chunk=lambda d, t: done.append(d)).sums
        assert np.abs(got - want).max() <= 1e-6 * np.abs(want).max(), (order, chunk)
        assert done == sorted(done) and done[-1] == n, done


def test_thread_count_does_not_change_the_result(monkeypatch) -> None:
    pytest.importorskip("numba", reason="numba is the optional 'fast' extra")
    rng = np.random.default_rng(5)
    n, c = 4000, 700
    x = rng.integers(-300, 300, (n, c)).astype(np.int16)
    hp = ke.design_highpass(FS, 100.0, 2)
    spikes = [np.arange(-LO, n - HI, 97), np.array([2000])]
    got = {}
    for threads in ("1", "3"):
        monkeypatch.setenv("TXPIPE_THREADS", threads)
        assert ke.compute_threads() == int(threads)
        got[threads] = ke.stream_eimage(lambda a, b: x[a:b], n, c, spikes, (LO, HI), hp, 1500, kernel="numba").sums
    assert np.array_equal(got["1"], got["3"])
    monkeypatch.setenv("TXPIPE_THREADS", "0")
    with pytest.raises(ParameterError, match="TXPIPE_THREADS"):
        ke.compute_threads()


def test_a_read_error_mid_window_propagates_and_stops_the_threads() -> None:
    pytest.importorskip("numba", reason="numba is the optional 'fast' extra")
    import threading

    x = np.zeros((60000, 300), np.int16)

    def read(a: int, b: int) -> np.ndarray:
        if b > 40000:
            raise OSError(5, "Input/output error", "rec.cmcr")
        return x[a:b]

    before = threading.active_count()
    with pytest.raises(OSError, match="Input/output error"):
        ke.stream_eimage(read, 60000, 300, [np.array([100, 50000])], (LO, HI), ke.design_highpass(FS, 100.0, 2), 20000,
                         kernel="numba")
    assert threading.active_count() == before


def test_progress_reaches_the_window_end_for_both_kernels() -> None:
    rng = np.random.default_rng(1)
    n, c = 5000, 7
    x = rng.integers(-100, 100, (n, c)).astype(np.int16)
    hp = ke.design_highpass(FS, 100.0, 2)
    for kernel in ("numpy", "numba") if ke.numba_available() else ("numpy",):
        done: list[int] = []
        ke.stream_eimage(lambda a, b: x[a:b], n, c, [np.array([100, 4000])], (LO, HI), hp, 1500, kernel=kernel,
                         on_chunk=lambda d, t: done.append(d))
        assert done == sorted(done) and done[-1] == n and len(done) >= 2, (kernel, done)


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5, 8])
@pytest.mark.parametrize("cutoff", [1.0, 100.0, 300.0, 2000.0])
def test_highpass_design_is_scipys(order: int, cutoff: float) -> None:
    hp = ke.design_highpass(FS, cutoff, order)
    sos = signal.butter(order, cutoff / (FS / 2), "high", output="sos")
    assert np.allclose(hp.sos, sos, rtol=1e-10, atol=1e-12)
    assert np.allclose(hp.zi, signal.sosfilt_zi(sos), rtol=1e-6, atol=1e-9)
    # scipy's default padlen: the same odd extension at both window edges
    x = np.random.default_rng(order).normal(size=(hp.padlen + 1,))
    signal.sosfiltfilt(sos, x)  # accepts padlen = len - 1 ...
    with pytest.raises(ValueError):
        signal.sosfiltfilt(sos, x[:-1])  # ... and not one sample less
    r = np.abs(signal.sos2zpk(sos)[1]).max()
    assert r ** (hp.overlap - 64) < 1e-13


def test_planted_soma_and_axon_delays(rec, session) -> None:
    assert rec.footprints and rec.sensor is not None and rec.sensor["n_frames"] == int(1.2 * FS)
    for fp in rec.footprints:
        img = _image(session, f"unit_{fp['unit_num']:03d}")
        proj = img.min(axis=0)
        r, c = np.unravel_index(np.argmin(proj), proj.shape)
        assert (r + 1, c + 1) == tuple(fp["soma"])
        assert np.argmin(img[:, r, c]) == -LO  # trough at the spike sample
        assert img[-LO, r, c] == pytest.approx(-fp["amplitude"], rel=0.1)
        lags = [int(np.argmin(img[:, a - 1, b - 1])) + LO for a, b in fp["axon"]]
        assert len(lags) >= 4
        assert np.all(np.diff(lags) == fp["axon_step"]) and lags[0] == fp["axon_step"]


def test_spike_counts_at_window_edges(rec, reference_filtered) -> None:
    """Spikes whose window just fits at either edge are used; one sample further they are excluded."""
    edges = np.array([-LO - 1, -LO, 5000, N - HI, N - HI + 1, N + 5], np.uint64)

    @txpipe.step("test_eimage_set_spikes")
    def set_spikes(state, *, uid: str):
        ch = txpipe.Changes()
        ch.put(f"units/{uid}/spike_times", edges, unit="sample_index")
        return ch

    s = txpipe.load_recording(rec.paths["cmcr"], rec.paths["cmtr"], defer_save=True)
    s.run(set_spikes, uid="unit_001")
    s.compute_eimage_sta(duration_s=WINDOW_S, chunk_duration_s=0.3, unit_ids=[1])
    s._discarded = True
    a = s.state.attrs("units/unit_001/features/eimage_sta/data")
    assert (a["n_spikes"], a["n_excluded"], a["n_beyond_limit"]) == (3, 2, 0)
    ref, n_used = _reference_image(reference_filtered, edges.astype(np.int64))
    assert n_used == 3
    img = _image(s, "unit_001")
    assert np.abs(img - ref).max() <= 1e-4 * np.abs(ref).max()
    assert "eimage_sta" not in s.state.keys("units/unit_002/features") if "units/unit_002/features" in s.state else True


def test_spike_limit_takes_the_first_spikes(rec, reference_filtered) -> None:
    u = rec.units[0]
    s = txpipe.load_recording(rec.paths["cmcr"], rec.paths["cmtr"], defer_save=True)
    s.compute_eimage_sta(duration_s=WINDOW_S, spike_limit=5, unit_ids=[f"unit_{u.unit_num:03d}"])
    s._discarded = True
    a = s.state.attrs(f"units/unit_{u.unit_num:03d}/features/eimage_sta/data")
    ref, n_used = _reference_image(reference_filtered, u.spike_samples, limit=5)
    assert a["n_spikes"] == 5 and a["n_beyond_limit"] > 0
    img = _image(s, f"unit_{u.unit_num:03d}")
    assert np.abs(img - ref).max() <= 1e-4 * np.abs(ref).max()


def test_skip_highpass_is_the_raw_mean(rec) -> None:
    u = rec.units[1]
    with h5py.File(rec.paths["cmcr"], "r") as f:
        x = f[SENSOR][:N].astype(np.float64)
    used = [t for t in u.spike_samples if t + LO >= 0 and t + HI <= N]
    want = np.mean([x[t + LO:t + HI] for t in used], axis=0)
    s = txpipe.load_recording(rec.paths["cmcr"], rec.paths["cmtr"], defer_save=True)
    s.compute_eimage_sta(duration_s=WINDOW_S, skip_highpass=True, unit_ids=[u.unit_num], chunk_duration_s=0.07)
    s._discarded = True
    got = _image(s, f"unit_{u.unit_num:03d}")
    assert np.allclose(got, want, rtol=0, atol=1e-3)


def test_classic_functions_and_skip(rec, tmp_path) -> None:
    res = txpipe.load_recording_with_eimage_sta(rec.paths["cmcr"], rec.paths["cmtr"], output_dir=tmp_path,
                                                duration_s=0.5, unit_ids=[1, 2])
    assert res.units_processed == 2 and res.window_samples == 10000 and res.hdf5_path.is_file()
    s = txpipe.PipelineSession.load(res.hdf5_path)
    assert [e.step for e in s.journal] == ["load_recording", "compute_eimage_sta"]
    assert s.journal[-1].inputs[0]["path"].endswith(".cmcr")
    again = txpipe.compute_eimage_sta(res.hdf5_path, duration_s=0.5, unit_ids=["unit_001", "2"])
    assert again.skipped and again.units_processed == 2
    forced = txpipe.compute_eimage_sta(res.hdf5_path, duration_s=0.5, unit_ids=[1, 2], force=True)
    assert not forced.skipped
    other = txpipe.compute_eimage_sta(res.hdf5_path, duration_s=0.4)
    assert not other.skipped and other.units_processed == len(rec.units)
    with h5py.File(res.hdf5_path, "r") as f:
        d = f["units/unit_001/features/eimage_sta/data"]
        assert d.shape == (50, 65, 65) and d.dtype == np.float32 and d.attrs["window_samples"] == 8000
    with pytest.raises(FileExistsError):
        txpipe.load_recording_with_eimage_sta(rec.paths["cmcr"], rec.paths["cmtr"], output_dir=tmp_path, duration_s=0.5)


def test_longer_than_the_stream_is_shortened_with_a_warning(rec) -> None:
    s = txpipe.load_recording(rec.paths["cmcr"], rec.paths["cmtr"], defer_save=True)
    s.compute_eimage_sta(duration_s=5.0, unit_ids=[1])
    s._discarded = True
    notes = s.journal[-1].notes
    assert notes["window_samples"] == int(1.2 * FS)
    assert any("shortened" in w for w in notes["warnings"])


def test_errors(rec, default_rec) -> None:
    s = txpipe.PipelineSession()
    with pytest.raises(MissingPrerequisiteError, match="load_recording"):
        s.compute_eimage_sta()
    s = txpipe.load_recording(rec.paths["cmcr"], rec.paths["cmtr"], defer_save=True)
    s._discarded = True
    for bad in (dict(window_range=(5, 5)), dict(cutoff_hz=20000.0), dict(filter_order=0), dict(duration_s=-1),
                dict(spike_limit=0), dict(unit_ids=["cell_7"]), dict(unit_ids=[999]), dict(chunk_duration_s=0)):
        with pytest.raises(ParameterError):
            s.compute_eimage_sta(**bad)
    no_sensor = txpipe.load_recording(default_rec.paths["cmcr"], default_rec.paths["cmtr"], defer_save=True)
    no_sensor._discarded = True
    with pytest.raises(McsFormatError, match=r"no sensor stream.*|.*\.cmcr"):
        no_sensor.compute_eimage_sta(duration_s=0.5)


def test_cli_run_with_eimage(tmp_path) -> None:
    from txpipe.runner.cli import main

    t = synth.make_recording(tmp_path / "rec", n_units=3, sensor_seconds=0.3, seed=5)
    out = tmp_path / "out.h5"
    assert main(["run", "-q", t.paths["cmcr"], t.paths["cmtr"], "-o", str(out), "--eimage-seconds", "0.3"]) == 0
    s = txpipe.PipelineSession.load(out)
    steps = [e.step for e in s.journal]
    assert steps[:2] == ["load_recording", "compute_eimage_sta"] and steps[-1] == "extract_features"
    assert s.journal[1].params["duration_s"] == 0.3
    assert "eimage_sta" in s.state.keys("units/unit_001/features")


MEMORY_SCRIPT = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    from txpipe.kernels import eimage as ke
    seconds, chunk_s = float(sys.argv[1]), float(sys.argv[2])
    fs, c = 20000.0, 65 * 65
    n = int(seconds * fs)
    rng = np.random.default_rng(0)
    bank = rng.normal(0, 10, (4096, c)).astype(np.int16) + rng.integers(-1000, 1000, c).astype(np.int16)
    def read(a, b):  # a sensor stream generated on the fly: nothing of the window is ever held
        return bank[np.arange(a, b) % 4096]
    spikes = [np.arange(100, n - 100, 997), np.arange(300, n - 100, 1499)]
    hp = ke.design_highpass(fs, 100.0, 2)
    ke.stream_eimage(read, 4000, c, [s[s < 3900] for s in spikes], (-10, 40), hp, 1000)  # warm up (compile)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ke.stream_eimage(read, n, c, spikes, (-10, 40), hp, int(chunk_s * fs))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"growth_kib": peak - base, "peak_kib": peak}))
""")


def test_memory_does_not_grow_with_the_window() -> None:
    def run(seconds: float) -> dict:
        r = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(seconds), "0.2"], capture_output=True, text=True,
                           timeout=600, check=True)
        return json.loads(r.stdout.strip().splitlines()[-1])

    from txpipe.steps.compute_eimage_sta import memory_bytes

    short, long = run(2.0), run(8.0)
    # the documented bound for one 0.2 s chunk is ~0.24 GB; the 8 s window alone is 1.35 GB as int16
    bound = memory_bytes(4000, ke.design_highpass(FS, 100.0, 2).overlap, 2, HI - LO)
    assert long["growth_kib"] <= short["growth_kib"] + 40 * 1024, (short, long)
    assert long["growth_kib"] * 1024 <= bound, (long, bound)


def test_report_shows_electrical_images(rec, tmp_path) -> None:
    from txpipe.report import render_report
    from txpipe.report.eimage import propagation_mask

    res = txpipe.load_recording_with_eimage_sta(rec.paths["cmcr"], rec.paths["cmtr"], output_dir=tmp_path,
                                                duration_s=0.5)
    text = render_report(res.hdf5_path).read_text()
    sec = text[text.index('<section id="eimage">'):]
    sec = sec[:sec.index("</section>")]
    assert "not available" not in sec and sec.count("<img") == 1 and "unit_001" in sec
    # the propagation map keeps the planted footprint and drops the noise
    fp = rec.footprints[0]
    s = txpipe.PipelineSession.load(res.hdf5_path)
    proj = np.asarray(s.state[f"units/unit_{fp['unit_num']:03d}/features/eimage_sta/data"]).min(axis=0)
    mask = propagation_mask(proj)
    assert mask[fp["soma"][0] - 1, fp["soma"][1] - 1] and mask.sum() < 40
    plain = txpipe.load_recording(rec.paths["cmcr"], rec.paths["cmtr"], output_dir=tmp_path / "plain")
    text = render_report(plain.hdf5_path).read_text()
    assert "not available: electrical images" in text
