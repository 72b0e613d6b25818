"""
Export txpipe files to the formats the field's tools read.

* :func:`to_nwb` / :func:`to_nwb_many`: NWB 2.x through pynwb (``pip install -e '.[nwb]'`` in the txpipe clone);
  ``txpipe export nwb FILE|DIR`` on the command line.
* :func:`to_sorting`: a SpikeInterface ``NumpySorting`` with a probeinterface ``Probe`` of the
  65 × 65 chip (``pip install -e '.[spikeinterface]'`` in the txpipe clone).

The optional packages are imported only when called; a missing one raises
:class:`~txpipe.errors.MissingExtraError` naming the extra. Mapping decisions: ``docs/interop.md``.
"""

from __future__ import annotations

from txpipe.export.nwb import to_nwb, to_nwb_many
from txpipe.export.sorting import chip_probe, to_sorting

__all__ = ["chip_probe", "to_nwb", "to_nwb_many", "to_sorting"]
