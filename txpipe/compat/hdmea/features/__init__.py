"""The lab's ``hdmea.features``: ``compute_sta`` (txpipe step 4). Feature extractors are run
with ``txpipe.compat.hdmea.pipeline.extract_features``."""

from txpipe.compat.hdmea.features.sta import compute_sta

__all__ = ["compute_sta"]
