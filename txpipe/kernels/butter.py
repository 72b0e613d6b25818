"""
Butterworth high-pass design in second-order sections, in numpy: the same filter as
``scipy.signal.butter(order, wn, "high", output="sos")`` and ``scipy.signal.sosfilt_zi`` without
importing ``scipy.signal`` (about 1–2 s, most of a short electrical-image run's fixed cost).
Tests compare both with scipy.
"""

from __future__ import annotations

import numpy as np


def butter_highpass(order: int, wn: float) -> tuple[np.ndarray, np.ndarray]:
    """
    Digital Butterworth high-pass of *order* with corner *wn* (fraction of the Nyquist frequency,
    0 < wn < 1): bilinear transform of the analog prototype with pre-warping, as scipy does.

    Returns:
        ``(sos, poles)``: sections (n_sections, 6) float64 ``[b0, b1, b2, 1, a1, a2]`` (conjugate
        pole pairs, plus one first-order section with ``b2 = a2 = 0`` for odd orders; sections
        ordered with the poles nearest the unit circle last and the gain in the first, as
        scipy's ``zpk2sos``), and the digital poles (complex, *order* of them).
    """
    n = int(order)
    p_analog = -np.exp(1j * np.pi * np.arange(-n + 1, n, 2) / (2 * n))  # low-pass prototype, gain 1
    warped = 4.0 * np.tan(np.pi * wn / 2.0)  # pre-warped corner for a sampling rate of 2
    p_hp = warped / p_analog  # low-pass -> high-pass: n zeros at s = 0
    gain = float(np.real(1.0 / np.prod(-p_analog))) * float(np.real(4.0 ** n / np.prod(4.0 - p_hp)))
    poles = (4.0 + p_hp) / (4.0 - p_hp)  # bilinear transform; the zeros go to z = 1
    tol = 1e-12
    pairs = poles[np.imag(poles) > tol * np.abs(poles)]
    reals = np.real(poles[np.abs(np.imag(poles)) <= tol * np.abs(poles)])
    secs = [(abs(1 - abs(q)), [1.0, -2.0, 1.0, 1.0, -2.0 * q.real, abs(q) ** 2]) for q in pairs]
    secs += [(abs(1 - abs(r)), [1.0, -1.0, 0.0, 1.0, -float(r), 0.0]) for r in reals]
    secs.sort(key=lambda s: -s[0])
    sos = np.array([row for _, row in secs], np.float64)
    sos[0, :3] *= gain
    return sos, poles


def sosfilt_zi(sos: np.ndarray) -> np.ndarray:
    """Initial state (n_sections, 2) of each section for the step response to a constant input of 1,
    as ``scipy.signal.sosfilt_zi`` (transposed direct form II, sections normalised to ``a0 = 1``)."""
    zi = np.empty((sos.shape[0], 2), np.float64)
    scale = 1.0
    for i, (b0, b1, b2, _, a1, a2) in enumerate(np.asarray(sos, np.float64)):
        m = np.array([[1.0 + a1, -1.0], [a2, 1.0]])
        zi[i] = scale * np.linalg.solve(m, np.array([b1 - a1 * b0, b2 - a2 * b0]))
        scale *= (b0 + b1 + b2) / (1.0 + a1 + a2)
    return zi


__all__ = ["butter_highpass", "sosfilt_zi"]
