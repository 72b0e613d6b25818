"""
The lab's ``hdmea`` API on txpipe: scripts written for ``hdmea`` run with only their imports
changed (``from hdmea.X import f`` becomes ``from txpipe.compat.hdmea.X import f``).

Modules mirror the lab's: :mod:`.pipeline` (``create_session``, ``load_recording``,
``load_recording_with_eimage_sta``, ``extract_features``, ``add_section_time``), :mod:`.io`
(``add_section_time``, ``add_section_time_analog``, ``section_spike_times``),
:mod:`.io.section_time`, :mod:`.io.spike_sectioning`, :mod:`.features` (``compute_sta``) and
:mod:`.features.sta`. Every function is a thin mapping onto the txpipe step of the same job;
defaults the lab took from its network share come from :mod:`.config`. What differs from the lab,
and why, is in ``docs/migrating-from-hdmea.md``.
"""
