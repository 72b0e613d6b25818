"""
Synthetic units: planning (unit numbers, sensors, rates, response models, templates), per-frame
rates and Poisson spike drawing, and plausible quality measures.

Units fire Poisson spikes per display frame at a rate driven by the frame's full-field intensity
(ON/OFF units) or by one noise pixel (RF units). Rates in spikes/s; spike positions in samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from txpipe.synth.protocol import GRAY, Protocol

CHIP_SIDE = 65
N_SENSORS = CHIP_SIDE * CHIP_SIDE
RESPONSE_KINDS = ("on", "off", "rf", "none")
DEFAULT_KINDS = ("on", "off", "rf", "rf", "on", "off", "rf", "none")


@dataclass
class _UnitPlan:
    unit_num: int
    kind: str
    note: str
    sensor_id: int
    base: float
    gain: float
    lag: int
    pixel: tuple[int, int] | None
    polarity: int
    amp: float
    template: np.ndarray


def _plan_units(n_units: int, kinds: list[str], rate_range: tuple[float, float], gain: float,
                rf_gain: float, edge: tuple[str, ...], protocol: Protocol, n_cut: int,
                rng: np.random.Generator) -> list[_UnitPlan]:
    """Unit numbers, sensors, rates, response models and templates (regular units, then edge units)."""
    extra = [e for e in ("zero_spike_unit", "only_excluded_unit") if e in edge]
    total = n_units + len(extra)
    nums = [i + 1 + (i // 2 if "unit_gaps" in edge else 0) for i in range(total)]
    sensors = rng.choice(N_SENSORS, total, replace=False) + 1
    noise = next((m for m in protocol.movies if m.pixels is not None), None)
    h, w = noise.pixels.shape[1:] if noise is not None else (15, 15)
    pix = rng.choice(h * w, total, replace=total > h * w)
    t = np.arange(n_cut) * 60.0 / n_cut
    plans = []
    for i in range(total):
        kind = kinds[i] if i < n_units else "none"
        note = extra[i - n_units] if i >= n_units else ""
        c = 20 + rng.uniform(-1, 1)
        wid = rng.uniform(1.5, 3.0)
        tpl = -np.exp(-((t - c) / wid) ** 2) + 0.35 * np.exp(-((t - c - 4 * wid) / (2 * wid)) ** 2)
        tpl /= -tpl.min()
        pol = (1 if (i % 2 == 0) else -1) if kind == "rf" else 0
        plans.append(_UnitPlan(
            unit_num=nums[i], kind=kind, note=note, sensor_id=int(sensors[i]),
            base=float(rng.uniform(*rate_range)), gain=rf_gain if kind == "rf" else
            (gain if kind in ("on", "off") else 0.0),
            lag=int(rng.integers(3, 9)) if kind == "rf" else int(rng.integers(2, 6)),
            pixel=(int(pix[i] // w), int(pix[i] % w)) if kind == "rf" else None, polarity=pol,
            amp=float(rng.uniform(40, 200)), template=tpl))
    if "sensor_id_out_of_range" in edge and n_units:
        plans[n_units - 1].sensor_id = N_SENSORS + 1
        plans[n_units - 1].note = "sensor_id_out_of_range"
    return plans


def _unit_rates(p: _UnitPlan, protocol: Protocol, inten: np.ndarray) -> np.ndarray:
    """Rate of unit *p* in every display frame, spikes/s, float64 (n_frames,)."""
    if p.kind in ("on", "off"):
        drive = np.full(inten.size, GRAY)
        drive[p.lag:] = inten[:inten.size - p.lag]
        sign = 1.0 if p.kind == "on" else -1.0
        return p.base + p.gain * np.clip(2 * sign * (drive - GRAY), 0, None)
    if p.kind == "rf":
        v = np.full(inten.size, GRAY)
        for m, c in zip(protocol.movies, protocol.content_starts()):
            if m.pixels is not None:
                v[c:c + m.n_frames] = m.pixels[:, p.pixel[0], p.pixel[1]] / 255.0
        drive = np.full(inten.size, GRAY)
        drive[p.lag:] = v[:v.size - p.lag]
        return p.base + p.gain * np.clip(2 * p.polarity * (drive - GRAY), 0, None)
    return np.full(inten.size, p.base)


def _draw_spikes(rates: np.ndarray, base: float, t: dict, rng: np.random.Generator) -> np.ndarray:
    """Poisson spikes per frame interval (+ lead-in and tail at *base*), unique sorted samples."""
    fs, onsets, n = t["fs"], t["onsets"], t["n_samples"]
    starts = np.concatenate([[0], onsets, [t["last_end"]]])
    ends = np.concatenate([onsets, [t["last_end"], n]])
    lens = ends - starts
    lam = np.concatenate([[base], rates, [base]]) * lens / fs
    counts = rng.poisson(lam)
    pos = np.repeat(starts, counts) + (rng.random(counts.sum()) * np.repeat(lens, counts)).astype(np.int64)
    return np.unique(pos)


def _measures(p: _UnitPlan, rng: np.random.Generator) -> dict[str, float]:
    """Plausible quality measures in Unit Info order (floats; IcaConverged/IcaIterations whole)."""
    noise_std = float(rng.uniform(8, 15))
    return {"SDScore": float(rng.uniform(5, 20)), "AmplitudeSD": float(0.1 * p.amp),
            "RSTD": float(rng.uniform(0.05, 0.3)), "Separability": float(rng.uniform(0.5, 1)),
            "IsoINN": float(rng.uniform(0.5, 1)), "IsoIBg": float(rng.uniform(0.5, 1)),
            "NoiseStd": noise_std, "SNR": float(p.amp / noise_std),
            "Skewness": float(rng.normal(0, 0.5)), "Kurtosis": float(rng.uniform(2, 5)),
            "IcaConverged": 1.0, "IcaIterations": float(rng.integers(5, 60))}
