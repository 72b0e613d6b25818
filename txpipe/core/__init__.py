"""Session core: state tree, changes, journal, codec, HDF5 store, atomic commit, locking, session."""
