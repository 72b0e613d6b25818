"""
A txpipe file as a SpikeInterface sorting: ``to_sorting(FILE)`` → ``NumpySorting`` + chip ``Probe``.

Spike trains are the file's ``units/*/spike_times`` (samples at the file's acquisition rate, one
segment); unit ids are the txpipe unit ids (``unit_001`` …). Unit properties: ``unit_num``,
``sensor_id``, ``sensor_row``, ``sensor_column``, ``x_um``, ``y_um``. The probe is the whole
65 × 65 chip (µm, square contacts), with device channel index = SensorID − 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from txpipe.export.extras import require
from txpipe.export.source import TxpipeFile
from txpipe.mcs.chip import SENSOR_PITCH_UM, sensor_positions_um, sensor_row_col
from txpipe.mcs.reader import N_SENSORS

EXTRA = "spikeinterface"
CONTACT_WIDTH_UM = 8.0
"""Side of a sensor's square contact in µm (CMOS-MEA5000 data sheet: 8 µm electrodes)."""


def chip_probe(pitch_um: float = SENSOR_PITCH_UM) -> Any:
    """A probeinterface ``Probe`` of the 65 × 65 chip: contact i at SensorID i + 1, positions in
    µm (x along columns, y along rows), ``device_channel_indices`` = SensorID − 1."""
    pi = require("probeinterface", EXTRA, "the chip probe")
    probe = pi.Probe(ndim=2, si_units="um", name="MCS CMOS-MEA 65x65", manufacturer="Multi Channel Systems")
    probe.set_contacts(positions=sensor_positions_um(pitch_um), shapes="square",
                       shape_params={"width": CONTACT_WIDTH_UM})
    ids = np.arange(1, N_SENSORS + 1)
    probe.set_contact_ids([str(i) for i in ids])
    probe.set_device_channel_indices(ids - 1)
    probe.create_auto_shape(probe_type="rect", margin=pitch_um)
    return probe


def to_sorting(path: str | Path, *, with_probe: bool = True, pitch_um: float = SENSOR_PITCH_UM) -> Any:
    """
    The units of a txpipe file as a SpikeInterface ``NumpySorting`` (one segment).

    Args:
        path: a committed txpipe file.
        with_probe: also attach the chip ``Probe`` as the annotation ``"probe"`` (get it back
            with ``sorting.get_annotation("probe")``).
        pitch_um: sensor pitch in µm for positions and the probe.

    Returns:
        ``NumpySorting`` at the file's acquisition rate; unit ids = txpipe unit ids.

    Raises:
        MissingExtraError: spikeinterface (or probeinterface) is not installed.
        NotATxpipeFileError / FileNotFoundError: not a complete txpipe file.
    """
    se = require("spikeinterface.core", EXTRA, "to_sorting")
    with TxpipeFile(path) as src:
        fs = src.fs_hz
        uids = src.unit_ids()
        trains = {u: src.spike_samples(u).astype(np.int64) for u in uids}
        attrs = [src.unit_attrs(u) for u in uids]
    sorting = se.NumpySorting.from_unit_dict([trains], sampling_frequency=fs) if uids else \
        se.NumpySorting.from_unit_dict([{}], sampling_frequency=fs)
    if uids:
        sid = np.array([a["sensor_id"] for a in attrs], np.int64)
        row, col = sensor_row_col(sid)
        pos = sensor_positions_um(pitch_um)[sid - 1]
        sorting.set_property("unit_num", np.array([a["unit_num"] for a in attrs], np.int64))
        sorting.set_property("sensor_id", sid)
        sorting.set_property("sensor_row", row)
        sorting.set_property("sensor_column", col)
        sorting.set_property("x_um", pos[:, 0])
        sorting.set_property("y_um", pos[:, 1])
    if with_probe:
        sorting.annotate(probe=chip_probe(pitch_um))
    return sorting


__all__ = ["chip_probe", "to_sorting"]
