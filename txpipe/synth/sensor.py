"""
The optional full-chip sensor stream of a synthetic ``.cmcr``: ``/Acquisition/Sensor Data/SensorData
1 1``, (frames, 65, 65) int16 ADC counts indexed ``[t, Row-1, Column-1]``, plus ``SensorMeta``.

Per sensor: a DC offset, a slow drift (two sinusoids below 1 Hz, a per-sensor gain) and Gaussian
noise (drawn from a reused bank with a random offset per block, so writing costs about as much as
the I/O). Per unit, at each of its included spikes ``s``, a planted footprint (:class:`Footprint`):
the spike waveform (trough at the spike sample) at the soma, a fraction of it on the 8 neighbours,
and along an axon of ``n_axon`` sensors leading away from the soma, sensor ``k`` (1-based) getting
a smaller copy ``k * axon_step`` samples later. The ground truth records all of it. Units: ADC
counts, samples. Memory: one block (``block`` frames) at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

CHIP = 65
WAVE_LAGS = np.arange(-8, 24)  # samples of the planted spike waveform relative to the spike
SENSOR_META_DTYPE = np.dtype([
    ("SensorID", "<i4"), ("GroupID", "<i4"), ("RegionID", "<i4"), ("Label", "S32"),
    ("RawDataType", "S16"), ("Unit", "S8"), ("Exponent", "<i4"), ("ADZero", "<i4"), ("Tick", "<i8"),
    ("ConversionFactor", "<i8"), ("ADCBits", "<i4"), ("FrameLeft", "<i4"), ("FrameTop", "<i4"),
    ("FrameRight", "<i4"), ("FrameBottom", "<i4"),
])


def spike_waveform() -> np.ndarray:
    """The planted extracellular spike, float64 over ``WAVE_LAGS``: trough −1 at lag 0, then a
    slower positive phase (peak ≈ +0.3 near lag 6)."""
    k = WAVE_LAGS.astype(np.float64)
    return -np.exp(-0.5 * (k / 1.5) ** 2) + 0.3 * np.exp(-0.5 * ((k - 6.0) / 3.0) ** 2) * (k > 0)


@dataclass(frozen=True, eq=False)
class Footprint:
    """A unit's planted electrical footprint. Sensors are ``(row, col)``, 1-based; amplitudes in
    ADC counts (the waveform's trough is ``-amplitude``); delays in samples."""

    unit_num: int
    soma: tuple[int, int]
    amplitude: float
    neighbours: tuple[tuple[int, int], ...]
    neighbour_gain: float
    axon: tuple[tuple[int, int], ...]
    axon_gain: float
    axon_step: int
    spike_samples: np.ndarray = field(repr=False)

    def sensors(self) -> list[tuple[int, int, float, int]]:
        """Every planted sensor as ``(row, col, gain, delay_samples)``."""
        out = [(self.soma[0], self.soma[1], 1.0, 0)]
        out += [(r, c, self.neighbour_gain, 0) for r, c in self.neighbours]
        out += [(r, c, self.axon_gain, (k + 1) * self.axon_step) for k, (r, c) in enumerate(self.axon)]
        return out

    def to_json(self) -> dict[str, object]:
        return {"unit_num": self.unit_num, "soma": list(self.soma), "amplitude": self.amplitude,
                "neighbours": [list(x) for x in self.neighbours], "neighbour_gain": self.neighbour_gain,
                "axon": [list(x) for x in self.axon], "axon_gain": self.axon_gain, "axon_step": self.axon_step}


def plan_footprints(units: list[tuple[int, int, int, np.ndarray]], rng: np.random.Generator, *,
                    amplitude_range: tuple[float, float] = (80.0, 200.0), neighbour_gain: float = 0.4,
                    n_axon: int = 8, axon_gain: float = 0.3, axon_step: int = 2) -> list[Footprint]:
    """One footprint per ``(unit_num, row, col, spike_samples)``: soma at the unit's sensor, its
    in-chip 8-neighbourhood, and a straight axon (random direction among the 8, clipped to the
    chip) starting two sensors from the soma."""
    dirs = [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)]
    out = []
    for unit_num, row, col, samples in units:
        nb = tuple((row + dr, col + dc) for dr, dc in dirs if 1 <= row + dr <= CHIP and 1 <= col + dc <= CHIP)
        # the direction with the longest in-chip path
        best: tuple[tuple[int, int], ...] = ()
        for i in rng.permutation(len(dirs)):
            dr, dc = dirs[i]
            path = tuple((row + dr * (k + 2), col + dc * (k + 2)) for k in range(n_axon))
            path = tuple(p for p in path if 1 <= p[0] <= CHIP and 1 <= p[1] <= CHIP)
            if len(path) > len(best):
                best = path
        amp = float(rng.uniform(*amplitude_range))
        out.append(Footprint(int(unit_num), (int(row), int(col)), amp, nb, neighbour_gain, best, axon_gain,
                             int(axon_step), np.asarray(samples, np.int64)))
    return out


def write_sensor_stream(f: h5py.File, n_frames: int, tick_us: int, footprints: list[Footprint],
                        rng: np.random.Generator, *, noise_adc: float = 8.0, dc_range_adc: int = 1500,
                        drift_adc: float = 60.0, block: int = 4096, ids: Any = None) -> dict[str, Any]:
    """
    Write ``/Acquisition/Sensor Data`` into the open ``.cmcr`` *f*: ``SensorData 1 1`` (n_frames,
    65, 65) int16 and ``SensorMeta``. Returns the stream's ground truth as a JSON-ready dict: noise
    sd, drift model and per-sensor ``dc_offset`` / ``drift_gain`` as (65, 65) nested lists indexed
    ``[row-1][col-1]``, and the planted waveform.
    """
    fs = 1e6 / tick_us
    acq = f["Acquisition"]
    grp = acq.create_group("Sensor Data")
    if ids is not None:
        ids(grp, "SensorStream")
    grp.attrs["SubType"] = np.bytes_("CMosSensor")
    meta = np.zeros(1, SENSOR_META_DTYPE)
    meta[0] = (1, 1, 1, b"ROI 1", b"Short", b"V", -6, 0, tick_us, 1, 16, 0, 0, CHIP - 1, CHIP - 1)
    md = grp.create_dataset("SensorMeta", data=meta)
    ds = grp.create_dataset("SensorData 1 1", shape=(n_frames, CHIP, CHIP), dtype="<i2")
    if ids is not None:
        ids(md, "SensorMeta")
        ids(ds, "SensorData")
    dc = rng.integers(-dc_range_adc, dc_range_adc + 1, (CHIP, CHIP)).astype(np.float32)
    gain = rng.uniform(0.2, 1.0, (CHIP, CHIP)).astype(np.float32)
    f1, f2, ph = 0.3, 0.83, rng.uniform(0, 2 * np.pi, 2)
    bank_len = 1 << 14
    bank = rng.normal(0.0, noise_adc, (bank_len, CHIP, CHIP)).astype(np.float32)
    wave = spike_waveform()
    # planted events: (sample of waveform lag 0, flat sensor index, amplitude)
    ev_t, ev_c, ev_a = [], [], []
    for fp in footprints:
        for r, c, g, d in fp.sensors():
            ev_t.append(fp.spike_samples + d)
            ev_c.append(np.full(fp.spike_samples.size, (r - 1) * CHIP + (c - 1), np.int64))
            ev_a.append(np.full(fp.spike_samples.size, fp.amplitude * g))  # the waveform has the trough
    et = np.concatenate(ev_t) if ev_t else np.zeros(0, np.int64)
    ec = np.concatenate(ev_c) if ev_c else np.zeros(0, np.int64)
    ea = np.concatenate(ev_a) if ev_a else np.zeros(0)
    order = np.argsort(et, kind="stable")
    et, ec, ea = et[order], ec[order], ea[order]
    for a in range(0, n_frames, block):
        b = min(n_frames, a + block)
        t = np.arange(a, b) / fs
        drift = (np.sin(2 * np.pi * f1 * t + ph[0]) + 0.5 * np.sin(2 * np.pi * f2 * t + ph[1])) * drift_adc
        off = int(rng.integers(bank_len))
        idx = (np.arange(b - a) + off) % bank_len
        x = bank[idx]
        x += dc
        x += drift.astype(np.float32)[:, None, None] * gain
        flat = x.reshape(b - a, CHIP * CHIP)
        i0 = np.searchsorted(et, a - WAVE_LAGS[-1], side="left")
        i1 = np.searchsorted(et, b - WAVE_LAGS[0], side="left")
        for k, w in zip(WAVE_LAGS, wave):
            tt = et[i0:i1] + k
            m = (tt >= a) & (tt < b)
            np.add.at(flat, (tt[m] - a, ec[i0:i1][m]), (ea[i0:i1][m] * w).astype(np.float32))
        ds[a:b] = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    return {"n_frames": int(n_frames), "noise_adc": float(noise_adc), "drift_adc": float(drift_adc),
            "drift_hz": [f1, f2], "drift_phase": [float(p) for p in ph],
            "drift": "drift_adc * (sin(2 pi f1 t + p1) + 0.5 sin(2 pi f2 t + p2)) * drift_gain[row, col]",
            "dc_offset": dc.astype(np.int64).tolist(), "drift_gain": gain.astype(np.float64).tolist(),
            "waveform_lags": WAVE_LAGS.tolist(), "waveform": spike_waveform().tolist()}
