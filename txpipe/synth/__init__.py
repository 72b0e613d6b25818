"""
Synthetic MCS CMOS-MEA recordings with known ground truth.

``make_recording(out_dir)`` writes a ``{name}.cmcr`` + ``{name}-.cmtr`` pair that McsPyDataTools
opens (layout: ``docs/mcs.md`` and ``reference/mcs-format.md``), plus the lab's side files
(``playlist.csv``, ``movie_length.csv``, ``stimuli/{movie}.json``, ``stimuli/{noise}.npy``), and
returns a :class:`GroundTruth` (saved as ``{name}.truth.npz`` + ``{name}.truth.json``).

Timing model (matches the lab's frame arithmetic): the playlist's movies occupy consecutive display
frames from frame 0; each movie is a block of ``pad + L + 1 + pad`` frames whose content starts at
``block_start + pad`` (pad = 180); frames outside content are gray (0.5). Each display frame has one
frame-sync pulse (rising edge at the frame onset, ~2 ms high), preceded by ``n_spurious_pulses``
spurious pulses. Units fire Poisson spikes per display frame at a rate driven by the frame's
full-field intensity (ON/OFF units) or by one noise pixel (RF units). Everything is O(frames +
spikes); the only per-sample work is writing the analog data, built from reused noise blocks.

Units: samples at ``fs_hz``; µs for MCS timestamps; display frames at 60 Hz; ADC counts for analog.
See ``docs/synthetic-data.md``.

Modules: ``protocol`` (movies, playlists, side files), ``truth`` (ground truth and its
files), ``spikes`` (units, rates, spike drawing), ``mcs_writer`` (the HDF5 files) and ``recording``
(:func:`make_recording`). Import from ``txpipe.synth``: ``__all__`` is the public surface.
"""

from __future__ import annotations

from txpipe.synth.mcs_writer import MEASURE_FIELDS, UNIT_INFO_DTYPE, peaks_dtype
from txpipe.synth.protocol import (
    FRAME_RATE_HZ,
    GRAY,
    PAD_FRAMES,
    Movie,
    Protocol,
    default_protocol,
    full_protocol,
    gray_movie,
    intensity_movie,
    lab_movie,
    load_shipped_config,
    noise_movie,
    shipped_config_names,
    step_movie,
)
from txpipe.synth.recording import EDGE_SWITCHES, make_recording
from txpipe.synth.spikes import CHIP_SIDE, DEFAULT_KINDS, N_SENSORS, RESPONSE_KINDS
from txpipe.synth.truth import GroundTruth, UnitTruth

__all__ = [
    "DEFAULT_KINDS", "EDGE_SWITCHES", "FRAME_RATE_HZ", "GroundTruth", "Movie", "PAD_FRAMES",
    "Protocol", "UnitTruth", "default_protocol", "full_protocol", "gray_movie", "intensity_movie",
    "lab_movie", "load_shipped_config", "make_recording", "noise_movie", "peaks_dtype",
    "shipped_config_names", "step_movie",
]
