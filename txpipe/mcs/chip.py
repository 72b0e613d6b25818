"""
Geometry of the MCS CMOS-MEA chip: 65 × 65 sensors on a square grid.

Sensor ids are 1-based and column-major: ``SensorID = 65·(Column−1) + Row`` with 1-based Row and
Column (the relation McsPyDataTools and the spike sorter use). Positions are in µm from the
centre of sensor (Row 1, Column 1): x grows with the column, y with the row.
"""

from __future__ import annotations

import numpy as np

from txpipe.mcs.reader import CHIP_SIDE, N_SENSORS

SENSOR_PITCH_UM = 16.0
"""Centre-to-centre sensor distance in µm of the CMOS-MEA5000 chip (Multi Channel Systems data
sheet: 4,225 sensors, 65 × 65 at 16 µm pitch, about 1 × 1 mm). MCS files do not record it; an
export takes another value from its metadata file (``chip: {pitch_um: …}``)."""


def sensor_row_col(sensor_id: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """1-based (row, column) of 1-based sensor ids."""
    s = np.asarray(sensor_id, np.int64) - 1
    return s % CHIP_SIDE + 1, s // CHIP_SIDE + 1


def sensor_positions_um(pitch_um: float = SENSOR_PITCH_UM) -> np.ndarray:
    """(4225, 2) float64 ``[x, y]`` in µm of sensor ids 1..4225 (row i holds SensorID i + 1)."""
    row, col = sensor_row_col(np.arange(1, N_SENSORS + 1))
    return np.column_stack([(col - 1) * float(pitch_um), (row - 1) * float(pitch_um)])


__all__ = ["CHIP_SIDE", "N_SENSORS", "SENSOR_PITCH_UM", "sensor_positions_um", "sensor_row_col"]
