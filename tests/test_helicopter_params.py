import dataclasses

import numpy as np
import pytest

from neurocontrol.exceptions import ParameterError
from plants.helicopter import HelicopterParams

PUBLISHED = dict(a1=5.19791e-4, a2=1.51992e-2, a3=2.70183e-7, a4=1.58009e-5, a5=-0.1, a6=-0.1, a7=-17.67,
                 a8=-0.7, a9=-0.0028, a10=-0.0028, a11=-13.92, a12=434.88, a13=-800.0, a14=-0.1, a15=-65.0)


def test_defaults_are_the_published_values_and_physical_drag():
    p = HelicopterParams()
    assert p.coefficients() == PUBLISHED
    assert p.published_drag is False
    assert p.throttle_limits == (0.0, 400.0) and p.collective_servo_limits == (-600.0, 600.0)
    assert p.rotor_speed_range == (74.25, 180.0) and p.altitude_range == (0.0, 2.0)
    assert p.collective_range == (0.0175, 0.245)
    assert p.climb_rate_range == (-2.85, 5.70) and p.collective_rate_range == (-9.52, 9.52)
    assert np.sqrt(p.a3) == pytest.approx(p.a1, rel=1e-5)      # zero thrust at zero pitch


def test_vector_layout_is_float64_read_only_and_cached():
    p = HelicopterParams(published_drag=True)
    v = p.to_vector()
    assert v.dtype == np.float64 and v.shape == (20,) and not v.flags.writeable
    np.testing.assert_array_equal(v[:15], list(PUBLISHED.values()))
    np.testing.assert_array_equal(v[15:], [1.0, 0.0, 2.0, 0.0175, 0.245])
    assert p.to_vector() is v
    np.testing.assert_array_equal(p.input_limits, [[0, 400], [-600, 600]])
    assert p.state_ranges.shape == (5, 2)


def test_frozen_keyword_only_and_replace():
    p = HelicopterParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.a8 = 0.0
    with pytest.raises(TypeError):
        HelicopterParams(1.0)
    q = p.replace(a8=1.3 * p.a8, a9=1.3 * p.a9, throttle_limits=[10, 300])
    assert q.a8 == pytest.approx(-0.91) and q.a9 == pytest.approx(-0.00364) and q.throttle_limits == (10.0, 300.0)
    assert dataclasses.replace(p, a1=5.2e-4).a1 == 5.2e-4
    assert q != p and hash(p) == hash(HelicopterParams())
    assert q.to_vector()[7] == pytest.approx(-0.91)


@pytest.mark.parametrize("changes, match", [
    ({"a3": float("nan")}, r"`a3` must be finite, got nan; pass a finite coefficient\."),
    ({"a12": float("inf")}, r"`a12` must be finite, got inf"),
    ({"a5": "fast"}, r"`a5` must be a real number, got 'fast'\."),
    ({"a5": True}, r"`a5` must be a real number, got True\."),
    ({"published_drag": "yes"}, r"`published_drag` must be True or False, got 'yes'\."),
    ({"throttle_limits": (400.0, 0.0)}, r"`throttle_limits` must have lower < upper, got \(400\.0, 0\.0\); swap or widen"),
    ({"collective_servo_limits": (5.0, 5.0)}, r"`collective_servo_limits` must have lower < upper, got \(5\.0, 5\.0\)"),
    ({"altitude_range": (0.0,)}, r"`altitude_range` must be a pair \(lower, upper\) of numbers, got \(0\.0,\)\."),
    ({"rotor_speed_range": (74.25, float("inf"))}, r"`rotor_speed_range` must be finite, got \(74\.25, inf\)\."),
    ({"collective_range": (-0.05, 0.245)}, r"`a3 \+ a4\*theta` must be positive over `collective_range`"),
])
def test_invalid_parameters_are_rejected_with_a_clear_message(changes, match):
    with pytest.raises(ParameterError, match=match):
        HelicopterParams(**changes)
