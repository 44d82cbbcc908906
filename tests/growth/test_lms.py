"""LMS arithmetic against hand computation with published L/M/S values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.clinical.growth import LMS, percentile_from_z, restricted_z_score, value_at_z, z_score
from server.clinical.growth.lms import interpolate


def test_z_score_with_l_equal_one():
    # WHO 2006 length-for-age, boys, day 365: L=1, M=75.7391, S=0.03137.
    lms = LMS(1, 75.7391, 0.03137)
    assert z_score(80.0, lms) == pytest.approx((80.0 / 75.7391 - 1) / 0.03137)
    assert z_score(75.7391, lms) == pytest.approx(0.0)


def test_z_score_box_cox():
    # WHO 2006 weight-for-age, girls, day 365: L=-0.2022, M=8.9462, S=0.12267.
    lms = LMS(-0.2022, 8.9462, 0.12267)
    expected = ((10.0 / 8.9462) ** -0.2022 - 1) / (-0.2022 * 0.12267)
    assert z_score(10.0, lms) == pytest.approx(expected)
    assert round(expected, 2) == 0.90


def test_z_score_l_zero_uses_log():
    lms = LMS(0.0, 10.0, 0.1)
    assert z_score(10.0 * math.exp(0.2), lms) == pytest.approx(2.0)
    assert value_at_z(2.0, lms) == pytest.approx(10.0 * math.exp(0.2))


def test_non_positive_measurement_rejected():
    with pytest.raises(ValueError):
        z_score(0.0, LMS(1, 50, 0.04))


def test_restricted_z_beyond_plus_three():
    """WHO chapter 7: beyond +3 SD, z* = 3 + (y - SD3pos) / (SD3pos - SD2pos)."""
    lms = LMS(-0.3521, 10.4475, 0.08308)  # WHO weight-for-length boys 80.0 cm
    sd2 = 10.4475 * (1 + -0.3521 * 0.08308 * 2) ** (1 / -0.3521)
    sd3 = 10.4475 * (1 + -0.3521 * 0.08308 * 3) ** (1 / -0.3521)
    y = 16.0
    z, restricted = restricted_z_score(y, lms)
    assert restricted
    assert z == pytest.approx(3 + (y - sd3) / (sd3 - sd2))
    # With L < 0 the Box-Cox curve spreads the upper tail ever wider, so the
    # unrestricted z-score understates how extreme a heavy child is.
    assert z > z_score(y, lms) + 0.3


def test_restricted_z_beyond_minus_three():
    lms = LMS(-0.3521, 10.4475, 0.08308)
    sdm2 = 10.4475 * (1 - -0.3521 * 0.08308 * 2) ** (1 / -0.3521)
    sdm3 = 10.4475 * (1 - -0.3521 * 0.08308 * 3) ** (1 / -0.3521)
    y = 7.0
    z, restricted = restricted_z_score(y, lms)
    assert restricted
    assert z == pytest.approx(-3 + (y - sdm3) / (sdm2 - sdm3))


def test_restricted_z_unchanged_inside_three():
    lms = LMS(-0.3521, 10.4475, 0.08308)
    z, restricted = restricted_z_score(11.0, lms)
    assert not restricted
    assert z == pytest.approx(z_score(11.0, lms))


@pytest.mark.parametrize(
    ("z", "pct"),
    [
        (0.0, 50.0),
        (-1.881, 3.0),
        (-1.036, 15.0),
        (1.036, 85.0),
        (1.881, 97.0),
        (-2.0, 2.3),
        (2.0, 97.7),
    ],
)
def test_percentile_from_z(z, pct):
    assert round(percentile_from_z(z), 1) == pct


def test_interpolate():
    a, b = LMS(1, 10, 0.1), LMS(0, 20, 0.3)
    mid = interpolate(a, b, 0.25)
    assert pytest.approx((0.75, 12.5, 0.15)) == (mid.L, mid.M, mid.S)


@given(
    L=st.floats(-2, 2).filter(lambda v: abs(v) > 1e-3),
    M=st.floats(2, 200),
    S=st.floats(0.02, 0.2),
    z=st.floats(-2.9, 2.9),
)
def test_value_at_z_inverts_z_score(L, M, S, z):
    lms = LMS(L, M, S)
    if 1 + L * S * z <= 0:
        return
    y = value_at_z(z, lms)
    assert z_score(y, lms) == pytest.approx(z, abs=1e-6)
    assert restricted_z_score(y, lms)[0] == pytest.approx(z, abs=1e-6)
