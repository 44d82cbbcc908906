"""LMS arithmetic (Cole's LMS method) as the WHO applies it.

Pure functions, no tables: everything here takes L, M, S explicitly so the
tests can check the formulas against hand-computed values.

References
- WHO Multicentre Growth Reference Study Group (2006). *WHO Child Growth
  Standards: Methods and development*, chapter 7 "Computation of centiles and
  z-scores" (the z-score formula and the restricted computation beyond ±3 SD).
- The WHO's own software implements the same: the ``anthro`` R package
  (``compute_zscore`` / ``compute_zscore_adjusted``) and ``anthroplus``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# The WHO charts' percentile lines and the z-scores the WHO uses for them
# (WHO 2006 standards, "percentile" chart sets: 3rd, 15th, 50th, 85th, 97th).
CHART_PERCENTILES: tuple[tuple[int, float], ...] = (
    (3, -1.881),
    (15, -1.036),
    (50, 0.0),
    (85, 1.036),
    (97, 1.881),
)


@dataclass(frozen=True, slots=True)
class LMS:
    """Box-Cox power (L), median (M) and coefficient of variation (S)."""

    L: float
    M: float
    S: float

    def to_dict(self) -> dict[str, float]:
        return {"L": self.L, "M": self.M, "S": self.S}


def z_score(y: float, lms: LMS) -> float:
    """Unrestricted LMS z-score: z = ((y/M)^L - 1) / (L*S); log form when L == 0."""
    if y <= 0:
        raise ValueError("measurement must be positive for the LMS z-score")
    if lms.L == 0:
        return math.log(y / lms.M) / lms.S
    return ((y / lms.M) ** lms.L - 1.0) / (lms.L * lms.S)


def value_at_z(z: float, lms: LMS) -> float:
    """Inverse LMS: the measurement at z-score ``z`` (the centile curve value)."""
    if lms.L == 0:
        return lms.M * math.exp(lms.S * z)
    base = 1.0 + lms.L * lms.S * z
    if base <= 0:
        # Only reachable far in the tail of a strongly skewed distribution;
        # the LMS curve is undefined there.
        raise ValueError(f"LMS curve undefined at z={z} (1 + L*S*z <= 0)")
    return lms.M * base ** (1.0 / lms.L)


def restricted_z_score(y: float, lms: LMS) -> tuple[float, bool]:
    """Z-score with the WHO's restricted computation beyond ±3 SD.

    For the weight-based indicators (weight-for-age, weight-for-length/height,
    BMI-for-age) the LMS model's skewness correction is unreliable in the far
    tails, so the WHO does not extrapolate the Box-Cox curve beyond ±3 SD.
    Instead the distance between the +2 and +3 SD curves (SD23) is used as a
    fixed "SD unit" outside ±3:

        z > 3:  z* = 3 + (y - SD3pos) / (SD3pos - SD2pos)
        z < -3: z* = -3 + (y - SD3neg) / (SD2neg - SD3neg)

    Returns ``(z, restricted)`` where ``restricted`` says the adjustment applied.
    """
    z = z_score(y, lms)
    if z > 3:
        sd3 = value_at_z(3, lms)
        sd23 = sd3 - value_at_z(2, lms)
        return 3 + (y - sd3) / sd23, True
    if z < -3:
        sd3 = value_at_z(-3, lms)
        sd23 = value_at_z(-2, lms) - sd3
        return -3 + (y - sd3) / sd23, True
    return z, False


def percentile_from_z(z: float) -> float:
    """Percentile (0-100) of the standard normal distribution at ``z``."""
    return 50.0 * (1.0 + math.erf(z / math.sqrt(2.0)))


def interpolate(a: LMS, b: LMS, fraction: float) -> LMS:
    """Linear interpolation of L, M and S, as the WHO software does between
    whole months (WHO 2007) and between 0.1 cm rows (weight-for-length/height)."""
    return LMS(
        a.L + fraction * (b.L - a.L),
        a.M + fraction * (b.M - a.M),
        a.S + fraction * (b.S - a.S),
    )
