"""
Compatibility layers: other packages' APIs mapped onto txpipe's steps.

:mod:`txpipe.compat.hdmea` runs scripts written for the lab's earlier ``hdmea`` package with only
their import lines changed (``from hdmea.X import f`` becomes ``from txpipe.compat.hdmea.X import
f``); see ``docs/migrating-from-hdmea.md``.
"""
