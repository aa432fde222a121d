"""The geometric prompt checks: pelvis travel and its direction, a waving hand, both hands up."""
import numpy as np
import pytest

from moscale.evaluation import behaviour
from test_feet import REAL

STILL = np.repeat(REAL[:1].astype(np.float64), 60, axis=0)


def test_travel_along_the_facing_direction():
    forward = behaviour.forward_axis(STILL[0])
    moved = STILL + np.linspace(0, 2, 60)[:, None, None] * forward
    travel = behaviour.pelvis_travel(moved)
    assert travel["distance"] == pytest.approx(2, abs=1e-6) and travel["forward"] == pytest.approx(2, abs=1e-6)
    back = behaviour.pelvis_travel(STILL - np.linspace(0, 1, 60)[:, None, None] * forward)
    assert back["forward"] == pytest.approx(-1, abs=1e-6)
    assert behaviour.pelvis_travel(moved, 30, None)["distance"] == pytest.approx(2 * 29 / 59, abs=1e-6)


def waving(swing_m=0.1, raised=True, frames=60):
    joints = STILL.copy()
    shoulder = joints[:, behaviour.SHOULDER["right"]]
    across = joints[0, behaviour.RIGHT_HIP] - joints[0, behaviour.LEFT_HIP]
    across /= np.linalg.norm(across)
    t = np.arange(frames) / 20
    lift = 0.25 if raised else -0.3
    joints[:, behaviour.WRIST["right"]] = (shoulder + [0, lift, 0]
                                           + np.sin(2 * np.pi * 1.5 * t)[:, None] * swing_m / 2 * across)
    return joints


def test_hand_waves():
    assert behaviour.hand_waves(waving())
    assert not behaviour.hand_waves(waving(), "left")
    assert not behaviour.hand_waves(waving(swing_m=0.0))  # raised but still: a raise, not a wave
    assert not behaviour.hand_waves(waving(raised=False))  # swinging low: not a wave
    assert not behaviour.hand_waves(waving(), start=0, stop=5)  # too short


def test_hands_up():
    joints = STILL.copy()
    assert not behaviour.hands_up(joints)
    head = joints[:, behaviour.HEAD]
    joints[:, behaviour.WRIST["left"]] = head + [0.2, 0.2, 0]
    assert not behaviour.hands_up(joints)
    joints[:, behaviour.WRIST["right"]] = head + [-0.2, 0.2, 0]
    assert behaviour.hands_up(joints)
