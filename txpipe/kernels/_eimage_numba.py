"""
numba kernels of :mod:`txpipe.kernels.eimage` (imported only when numba is used: compiling or loading
them from numba's on-disk cache costs about a second). Module-level functions so numba can cache
them. Shapes and units are documented in :mod:`txpipe.kernels.eimage`.
"""

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def filter_rows(x, out, sos, z, reverse):  # pragma: no cover - compiled
    n, c_n = x.shape
    n_sec = sos.shape[0]
    v = np.empty(c_n, np.float64)
    for i in range(n):
        t = n - 1 - i if reverse else i
        xr = x[t]
        for c in range(c_n):
            v[c] = xr[c]
        for k in range(n_sec):
            b0 = sos[k, 0]
            b1 = sos[k, 1]
            b2 = sos[k, 2]
            a1 = sos[k, 4]
            a2 = sos[k, 5]
            z0 = z[k, 0]
            z1 = z[k, 1]
            for c in range(c_n):
                xi = v[c]
                yi = b0 * xi + z0[c]
                z0[c] = b1 * xi - a1 * yi + z1[c]
                z1[c] = b2 * xi - a2 * yi
                v[c] = yi
        orow = out[t]
        for c in range(c_n):
            orow[c] = v[c]


@numba.njit(cache=True, nogil=True)
def add_windows(buf, row0, n_rows, spikes, lo, width, acc):  # pragma: no cover - compiled
    c_n = buf.shape[1]
    for s in spikes:
        j0 = max(0, row0 - (s + lo))
        j1 = min(width, row0 + n_rows - (s + lo))
        for j in range(j0, j1):
            row = buf[s + lo + j - row0]
            arow = acc[j]
            for c in range(c_n):
                arow[c] += row[c]


@numba.njit(cache=True, nogil=True, parallel=True)
def add_windows_par(buf, row0, n_rows, spikes, first, last, lo, width, acc):  # pragma: no cover - compiled
    for u in numba.prange(first.size):
        if last[u] > first[u]:
            add_windows(buf, row0, n_rows, spikes[first[u]:last[u]], lo, width, acc[u])


@numba.njit(cache=True, nogil=True)
def sections(x, out, sos, z, t0, t1, reverse):  # pragma: no cover - compiled
    # rows t0..t1-1 of x (float) through the sections into out, state z (n_sec, 2, bw); reverse: t1-1 down to t0
    bw = x.shape[1]
    n_sec = sos.shape[0]
    v = np.empty(bw, np.float64)
    for i in range(t1 - t0):
        t = t1 - 1 - i if reverse else t0 + i
        for c in range(bw):
            v[c] = x[t, c]
        for k in range(n_sec):
            b0 = sos[k, 0]
            b1 = sos[k, 1]
            b2 = sos[k, 2]
            a1 = sos[k, 4]
            a2 = sos[k, 5]
            for c in range(bw):
                xi = v[c]
                yi = b0 * xi + z[k, 0, c]
                z[k, 0, c] = b1 * xi - a1 * yi + z[k, 1, c]
                z[k, 1, c] = b2 * xi - a2 * yi
                v[c] = yi
        for c in range(bw):
            out[t, c] = v[c]


@numba.njit(cache=True, nogil=True, parallel=True)
def fused_chunk(raw, row0, n_out, final, post, sos, zi, zf, spikes, ufirst, ulast, lo, width, acc, sub, overlap,
                bw):  # pragma: no cover - compiled
    n_rows, c_n = raw.shape
    n_sec = sos.shape[0]
    pad = post.shape[0]
    n_blocks = (c_n + bw - 1) // bw
    for b in numba.prange(n_blocks):
        c0 = b * bw
        c1 = min(c_n, c0 + bw)
        w = c1 - c0
        tile = np.empty((min(n_rows, sub + overlap), w), np.float32)
        z = np.empty((n_sec, 2, w), np.float64)
        zt = np.empty((n_sec, 2, w), np.float64)
        zb = np.empty((n_sec, 2, w), np.float64)
        for k in range(n_sec):
            for c in range(w):
                z[k, 0, c] = zf[k, 0, c0 + c]
                z[k, 1, c] = zf[k, 1, c0 + c]
        for s0 in range(0, n_out, sub):
            s1 = min(n_out, s0 + sub)
            e = min(n_rows, s1 + overlap)
            m = e - s0
            xin = raw[s0:e, c0:c1]
            sections(xin, tile, sos, z, 0, s1 - s0, False)  # forward, state carried to s1
            zt[:, :, :] = z
            sections(xin, tile, sos, zt, s1 - s0, m, False)  # forward over the overlap
            if final and s1 == n_out:  # the window's end: scipy's odd extension and sosfilt_zi
                ypost = np.empty((pad, w), np.float32)
                pin = np.empty((pad, w), np.float64)
                for t in range(pad):
                    for c in range(w):
                        pin[t, c] = post[t, c0 + c]
                if pad > 0:
                    sections(pin, ypost, sos, zt, 0, pad, False)
                    for k in range(n_sec):
                        for c in range(w):
                            zb[k, 0, c] = zi[k, 0] * ypost[pad - 1, c]
                            zb[k, 1, c] = zi[k, 1] * ypost[pad - 1, c]
                    for t in range(pad):
                        for c in range(w):
                            pin[t, c] = ypost[t, c]
                    sections(pin, ypost, sos, zb, 0, pad, True)
                else:
                    for k in range(n_sec):
                        for c in range(w):
                            zb[k, 0, c] = zi[k, 0] * tile[m - 1, c]
                            zb[k, 1, c] = zi[k, 1] * tile[m - 1, c]
            else:
                for k in range(n_sec):
                    for c in range(w):
                        zb[k, 0, c] = zi[k, 0] * tile[m - 1, c]
                        zb[k, 1, c] = zi[k, 1] * tile[m - 1, c]
            sections(tile, tile, sos, zb, 0, m, True)  # backward, in place
            # window sums for output rows [s0, s1) of this channel block
            for u in range(ufirst.size):
                a = acc[u]
                for i in range(ufirst[u], ulast[u]):
                    sp = spikes[i]
                    j0 = max(0, row0 + s0 - (sp + lo))
                    j1 = min(width, row0 + s1 - (sp + lo))
                    for j in range(j0, j1):
                        r = sp + lo + j - row0 - s0
                        for c in range(w):
                            a[j, c0 + c] += tile[r, c]
        for k in range(n_sec):
            for c in range(w):
                zf[k, 0, c0 + c] = z[k, 0, c]
                zf[k, 1, c0 + c] = z[k, 1, c]
