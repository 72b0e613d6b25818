"""
Writing the MCS ``.cmcr`` (raw analog) and ``.cmtr`` (spike sorter) HDF5 files McsPyDataTools opens.

Layout: ``docs/mcs.md`` and ``reference/mcs-format.md``. Covers the ``ID.*`` attributes, root
attributes, the ``Peaks`` / ``Unit Info`` / ``ChannelMeta`` dtypes, the analog data (light reference
and frame sync, built from reused noise blocks) and the spike-sorter units (one unit at a time).
Units: µs for MCS timestamps; ADC counts for analog.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import h5py
import numpy as np

from txpipe.synth.protocol import GRAY, Protocol
from txpipe.synth.spikes import CHIP_SIDE, _draw_spikes, _measures, _unit_rates, _UnitPlan
from txpipe.synth.truth import UnitTruth

# --- MCS type ids (reference/mcs-format.md §2-§3) -----------------------------------------------
_TYPE_IDS = {
    "CmosMeaFile": "cabb6cdd-47e0-417a-8e04-5664cbbc449b",
    "Acquisition": "650d88ce-9f24-4b20-ac2b-254defd12761",
    "ChannelStream": "9217aeb4-59a0-4d7f-bdcd-0371c9fd66eb",
    "ChannelData": "5efe7932-dcfe-49ff-ba53-25accff5d622",
    "ChannelMeta": "9e8ac9cd-5571-4ee5-bbfa-8e9d9c436daa",
    "SpikeSorter": "7263d1b7-f57a-42de-8f51-5d6326d22f2a",
    "SingleUnit": "0e5a97df-9de0-4a22-ab8c-54845c1ff3b9",
    "SensorStream": "15e5a1fe-df2f-421b-8b60-23eeb2213c45",
    "SensorData": "49da47df-f397-4121-b5da-35317a93e705",
    "SensorMeta": "ab2aa189-2e72-4148-a2ef-978119223412",
}
_PLACEHOLDER_NS = uuid.UUID("00000000-0000-0000-0000-00000000cafe")
MEASURE_FIELDS = ("SDScore", "AmplitudeSD", "RSTD", "Separability", "IsoINN", "IsoIBg", "NoiseStd",
                  "SNR", "Skewness", "Kurtosis", "IcaConverged", "IcaIterations")
UNIT_INFO_DTYPE = np.dtype(
    [(n, "<i4") for n in ("UnitID", "SensorID", "RoiID", "Row", "Column")]
    + [(n, "<f8") for n in MEASURE_FIELDS[:10]] + [("IcaConverged", "<i4"), ("IcaIterations", "<i4")]
)
_CHANNEL_META_DTYPE = np.dtype([
    ("ChannelID", "<i4"), ("RowIndex", "<i4"), ("GroupID", "<i4"), ("ElectrodeGroupID", "<i4"),
    ("Label", "S32"), ("RawDataType", "S16"), ("Unit", "S8"), ("Exponent", "<i4"), ("ADZero", "<i4"),
    ("Tick", "<i8"), ("ConversionFactor", "<i8"), ("ADCBits", "<i4"), ("HighPassFilterType", "S16"),
    ("HighPassFilterCutOffFrequency", "S16"), ("HighPassFilterOrder", "<i4"),
    ("LowPassFilterType", "S16"), ("LowPassFilterCutOffFrequency", "S16"),
    ("LowPassFilterOrder", "<i4"),
])


def peaks_dtype(cutout_len: int = 60, cutout_dtype: str = "<f8") -> np.dtype:
    """The ``Peaks`` compound dtype: Timestamp (µs), PeakAmplitude, IncludePeak, '1'..'n' samples."""
    return np.dtype([("Timestamp", "<i8"), ("PeakAmplitude", "<f8"), ("IncludePeak", "<i4")]
                    + [(str(i + 1), cutout_dtype) for i in range(cutout_len)])


def _ids(obj: h5py.HLObject, mcs_type: str, seed: int, vlen: bool = False) -> None:
    """The four ID.* attributes McsPy needs, as fixed-length ASCII (or vlen str if *vlen*)."""
    type_id = _TYPE_IDS.get(mcs_type) or str(uuid.uuid5(_PLACEHOLDER_NS, mcs_type))
    inst_id = str(uuid.uuid5(_PLACEHOLDER_NS, f"{seed}:{obj.file.filename}:{obj.name}"))
    inst = obj.name.rsplit("/", 1)[-1] or "root"
    for key, val in (("ID.Type", mcs_type), ("ID.TypeID", type_id), ("ID.Instance", inst),
                     ("ID.InstanceID", inst_id)):
        obj.attrs[key] = val if vlen else np.bytes_(val)


def _root_attrs(f: h5py.File, program: str, duration_us: int, seed: int, vlen: bool) -> None:
    _ids(f, "CmosMeaFile", seed, vlen)
    for key, val in (("ID.Instance", "C:\\Data\\" + Path(f.filename).name),
                     ("DateTime", "10.04.2025 11:12:57"), ("ProgramName", program),
                     ("ProgramVersion", "2.7.3")):
        f.attrs[key] = val if vlen else np.bytes_(val)
    f.attrs["FileVersion"] = np.array([1], np.int32)
    f.attrs["LB.RecordingDuration"] = np.array([duration_us], np.int64)


def _write_cmcr(path: Path, t: dict, protocol: Protocol, tick_us: int, lo: int, hi: int,
                light_noise: float, sync_hi: int, sync_noise: float, with_sync: bool, vlen: bool,
                seed: int, rng: np.random.Generator) -> None:
    """The raw file: root attributes, /Acquisition/Analog Data/ChannelData 1 (int32) + ChannelMeta."""
    n = t["n_samples"]
    n_ch = 2 if with_sync else 1
    onsets, last_end = t["onsets"], t["last_end"]
    bounds = np.concatenate([[0], onsets, [last_end, n]]).astype(np.int64)
    levels = np.round(lo + np.concatenate([[GRAY], protocol.frame_intensity(), [GRAY]])
                      * (hi - lo)).astype(np.int32)
    pulses = np.concatenate([t["spurious"], onsets])
    width = int(round(0.002 * t["fs"]))
    block = 1 << 17
    noise1 = np.round(rng.normal(0, light_noise, block)).astype(np.int32)
    noise2 = np.round(rng.normal(0, sync_noise, block)).astype(np.int32)
    with h5py.File(path, "w") as f:
        _root_attrs(f, "CMOS-MEA-Control", n * tick_us, seed, vlen)
        acq = f.create_group("Acquisition")
        _ids(acq, "Acquisition", seed)
        ad = acq.create_group("Analog Data")
        _ids(ad, "ChannelStream", seed)
        ad.attrs["SubType"] = np.bytes_("Auxiliary")
        meta = np.zeros(n_ch, _CHANNEL_META_DTYPE)
        meta["ChannelID"] = meta["RowIndex"] = np.arange(n_ch)
        meta["GroupID"], meta["Tick"], meta["ConversionFactor"] = 1, tick_us, 1
        meta["Label"] = [b"Light reference", b"Frame sync"][:n_ch]
        meta["RawDataType"], meta["Unit"], meta["Exponent"], meta["ADCBits"] = b"Int", b"V", -9, 24
        ds = ad.create_dataset("ChannelData 1", shape=(n_ch, n), dtype="<i4")
        _ids(ds, "ChannelData", seed)
        md = ad.create_dataset("ChannelMeta", data=meta)
        _ids(md, "ChannelMeta", seed)
        chunk = 1 << 21
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            i0 = np.searchsorted(bounds, a, "right") - 1
            i1 = np.searchsorted(bounds, b - 1, "right") - 1
            seg = np.clip(bounds[i0:i1 + 2], a, b)
            data = np.empty((n_ch, b - a), np.int32)
            data[0] = np.repeat(levels[i0:i1 + 1], np.diff(seg))
            data[0] += np.resize(np.roll(noise1, int(rng.integers(block))), b - a)
            if with_sync:
                edges = np.bincount(np.clip(pulses - a, 0, b - a), minlength=b - a + 1)
                edges -= np.bincount(np.clip(pulses + width - a, 0, b - a), minlength=b - a + 1)
                data[1] = (np.cumsum(edges)[:-1] > 0) * np.int32(sync_hi)
                data[1] += np.resize(np.roll(noise2, int(rng.integers(block))), b - a)
            ds[:, a:b] = data


def _write_cmtr(path: Path, plans: list[_UnitPlan], t: dict, protocol: Protocol, fs: float,
                tick_us: int, link: str, duration_us: int, pdtype: np.dtype, excluded_frac: float,
                attr_style: str, vlen: bool, at_bounds: bool, seed: int,
                rng: np.random.Generator) -> list[UnitTruth]:
    """The spike-sorter file, one unit at a time (memory O(one unit)); returns the unit truths."""
    n, n_cut = t["n_samples"], len(pdtype.names) - 3
    inten = protocol.frame_intensity()
    cut_noise = rng.normal(0, 0.05, (4096, n_cut))
    infos, truths = [], []
    with h5py.File(path, "w") as f:
        _root_attrs(f, "CMOS-MEA-Tools", duration_us, seed, vlen)
        f["Acquisition"] = h5py.ExternalLink(link, "/Acquisition")
        ss = f.create_group("Spike Sorter")
        _ids(ss, "SpikeSorter", seed)
        for k, p in enumerate(plans):
            if p.note == "zero_spike_unit":
                inc = np.zeros(0, np.int64)
            elif p.note == "only_excluded_unit":
                inc = np.zeros(0, np.int64)
            else:
                inc = _draw_spikes(_unit_rates(p, protocol, inten), p.base, t, rng)
                if at_bounds and k == 0:
                    inc = np.union1d(inc, [0, n - 1])
            n_exc = 0 if p.note == "zero_spike_unit" else \
                max(int(rng.poisson(excluded_frac * inc.size)), 20 if p.note == "only_excluded_unit" else 0)
            exc = np.setdiff1d(rng.integers(0, n, n_exc), inc)
            samples = np.concatenate([inc, exc])
            flag = np.r_[np.ones(inc.size, np.int32), np.zeros(exc.size, np.int32)]
            order = np.argsort(samples, kind="stable")
            samples, flag = samples[order], flag[order]
            scale = np.where(flag == 1, 1.0, 0.3) * p.amp * (1 + 0.1 * rng.standard_normal(samples.size))
            peaks = np.empty(samples.size, pdtype)
            peaks["Timestamp"] = samples * tick_us
            peaks["PeakAmplitude"] = -scale
            peaks["IncludePeak"] = flag
            cut = np.resize(np.roll(cut_noise, int(rng.integers(len(cut_noise))), axis=0),
                            (samples.size, n_cut))
            cut = (cut + p.template) * scale[:, None]
            cut_view = _cutout_view(peaks)
            cut_view[...] = cut
            m = flag == 1
            wf = np.asarray(cut_view[m], np.float64).mean(axis=0).astype(np.float32) if m.any() \
                else np.zeros(0, np.float32)
            row, col = (p.sensor_id - 1) % CHIP_SIDE + 1, (p.sensor_id - 1) // CHIP_SIDE + 1
            meas = _measures(p, rng)
            info = np.zeros(1, UNIT_INFO_DTYPE)
            info[0] = (p.unit_num, p.sensor_id, 1, row, col, *meas.values())
            infos.append(info)
            g = ss.create_group(f"Unit {p.unit_num}")
            _ids(g, "SingleUnit", seed)
            for key, val in (("UnitID", p.unit_num), ("SensorID", p.sensor_id), ("RoiID", 1),
                             ("Row", row), ("Column", col)):
                g.attrs[key] = np.int32(val) if attr_style == "scalar" else np.array([val], np.int32)
            for dname, data in (("Peaks", peaks), ("Unit Info", info),
                                ("RoiSTAs", np.zeros((9, n_cut), np.float32)),
                                ("Source", np.zeros(1000, np.float32)),
                                ("Unmixing", np.eye(9, dtype=np.float32))):
                d = g.create_dataset(dname, data=data)
                _ids(d, dname.replace(" ", ""), seed)
            t_us = inc * tick_us
            truths.append(UnitTruth(
                unit_num=p.unit_num, kind=p.kind, note=p.note, spike_times_us=t_us,
                spike_samples=np.round(t_us * fs / 1e6).astype(np.int64),
                amplitudes=peaks["PeakAmplitude"][m].astype(np.float64), waveform=wf,
                template=p.template, n_excluded=int((~m).sum()), row=row, col=col,
                sensor_id=p.sensor_id, base_rate_hz=p.base, gain_hz=p.gain, latency_frames=p.lag,
                rf_pixel=p.pixel, rf_polarity=p.polarity, measures=meas))
        units = ss.create_dataset("Units", data=np.concatenate(infos) if infos
                                  else np.zeros(0, UNIT_INFO_DTYPE))
        _ids(units, "Units", seed)
    return truths


def _cutout_view(peaks: np.ndarray) -> np.ndarray:
    """A writable (n, n_cut) view of the cutout fields of a packed Peaks array."""
    n_cut = len(peaks.dtype.names) - 3
    ft = peaks.dtype.fields["1"][0]
    off = peaks.dtype.fields["1"][1]
    raw = peaks.view(np.uint8).reshape(peaks.size, peaks.dtype.itemsize)
    return raw[:, off:off + n_cut * ft.itemsize].view(ft)
