"""The checks of benchmarks/following.py: one predicate on SMPL-22 joints (metres, Y up) per action, built on
moscale.motion.measures and moscale.evaluation.behaviour, plus the few small tests those have no equivalent for (an arm
stretched in front, a kick's foot speed, a torso tilted in a bow, upside down, jumping-jack and push-up cycles, a
throw). Each check names the real clips it was validated on (benchmarks/_real_clips.py specs). Lengths are
standard-body metres (measures.standard_scale), speeds standard-body m/s.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from moscale.evaluation import behaviour
from moscale.motion import measures as ms
from moscale.motion.kinematics import gaussian_smooth
from moscale.motion.skeleton import JOINT_INDEX

# ----------------------------------------------------------------------------------------------- thresholds, helpers
# Thresholds below were read off real clips (run with --real to see each check's pass rate on them).
WALK_M = 1.0  # "walks forward": the pelvis goes at least this far forward (as benchmarks/prompts.py's WALK_PART_M)
STILL_M = 0.4  # "stands still": the smoothed pelvis never gets this far from where it started
TURN_ASKED_DEG = 60.0  # "turns right/left by about 90 degrees": at least this much that way
SPEED_RATIO = 1.5  # "walks quickly" / "walks slowly": mean pelvis speed at least this many times larger
REACH_M = 0.38  # arm stretched in front: wrist this far ahead of its shoulder along the facing (the arm is ~0.5 m;
REACH_LEVEL_M = 0.25  # ... real punches reach 0.33-0.53, walks and waves <= 0.34), within this of shoulder height
BOW_TILT_DEG = 20.0  # bow: pelvis -> neck tilts this much further forward than upright (bows 28-71, idle <= 15)
KICK_FOOT_MPS = 6.0  # kick: an ankle swings this fast relative to the pelvis (kicks 6.4-10, runs <= 5.2) ...
KICK_LIFT_M = 0.3  # ... and that foot leaves the floor by this much (soccer kicks 0.33-0.48, high kicks ~1)
DANCE_MPS = 0.4  # dance: median speed of hands and feet relative to the pelvis (dances 0.5-2.5, idle < 0.1,
DANCE_RADIUS_M = 1.5  # ... waves 0.03-0.6), the pelvis staying within this of its mean (a 5 s walk goes ~2.5)
UPRIGHT_SHARE = 0.8  # walks, bows, dances: standing (measures.posture_frames) this share of the frames
IDLE_MPS = 0.2  # stand idle: hands and feet slower than this (ReActIdle <= 0.1; waves and dances 0.3-2.5)
SALSA_STEPS_PER_S = 0.6  # salsa: a dance with footwork (salsa takes 0.4-2.2 steps/s)
FLOOR_M = 0.35  # a wrist this close to the floor touches it
HEAD_DOWN_M = 0.25  # ... a head this close (rolls: 0.10-0.17; on the hands, upside down, the head is >= 0.3 up)
PICK_HEAD_M = 0.6  # pick up: ... a wrist touches it while the head stays above this (not lying or crawling)
CLIMB_M = 0.3  # climb: both feet and the pelvis this much higher than at the start (CMU's three steps: ~0.6) ...
CLIMB_S = 1.0  # ... for this long (a jump's flight is under 0.6 s)
LIE_S = 0.75  # lie down: lying (measures) at least this long, the pelvis moving under ...
LIE_PATH_M = 0.5  # ... this far meanwhile (crawling is as low)
LOW_HEAD_M = 0.6  # get up: the head below this in the first half ...
UPRIGHT_HEAD_M = 1.1  # ... and above this over the last half second
FLAT_DEG = 30.0  # crawl, push-up: the pelvis -> neck line within this of horizontal ...
FLAT_FRACTION = 0.5  # ... for this share of the frames
CRAWL_M = 0.5  # crawl: the pelvis moves this far
INVERTED_S = 0.15  # flips, cartwheels, rolls: both ankles above the head this long
JACK_SPREAD_M = 0.5  # jumping jack open: ankles this far apart with both wrists above the head minus ...
JACK_WRIST_M = 0.05  # ... this; closed: ankles less than ...
JACK_CLOSED_M = 0.35  # ... this apart
PUSHUP_M = 0.1  # push-up: the shoulders go down and up by this much
WINDUP_M = 0.1  # throw: the wrist at least this far behind its shoulder and above it, then within ...
THROW_WINDOW_S = 1.0  # ... this long forward at ...
THROW_MPS = 3.0  # ... this speed at shoulder height or above (Mesh2Motion's throw: 4.1; punches hit 4.5 unwound)
ZOMBIE_FRACTION = 0.5  # zombie walk: both arms stretched in front this share of the frames
CYCLES = 2  # jumping jacks, push-ups: at least this many
NECK = JOINT_INDEX["neck"]


def facing(joints: np.ndarray, fps: float) -> np.ndarray:
    yaw = np.radians(ms.heading_deg(joints, fps))
    return np.stack([np.sin(yaw), np.zeros_like(yaw), np.cos(yaw)], axis=-1)


def arm_reach(joints: np.ndarray, fps: float, side: str) -> np.ndarray:
    """(T,) standard-body metres the wrist is ahead of its shoulder along the facing, at shoulder height (else 0)."""
    rel = (joints[:, ms.WRISTS[side]] - joints[:, ms.SHOULDERS[side]]) * ms.standard_scale(joints)
    return (rel * facing(joints, fps)).sum(-1) * (np.abs(rel[:, 1]) <= REACH_LEVEL_M)


def torso_elevation_deg(joints: np.ndarray) -> np.ndarray:
    """(T,) angle of the pelvis -> neck line above the horizontal (90: upright, 0: lying or on all fours)."""
    torso = joints[:, NECK] - joints[:, ms.PELVIS]
    return np.degrees(np.arctan2(torso[:, 1], np.linalg.norm(torso[:, [0, 2]], axis=-1)))


def inverted(joints: np.ndarray) -> np.ndarray:
    """(T,) bool: both ankles above the head."""
    ankles = joints[:, [ms.FEET["left"][0], ms.FEET["right"][0]], 1].min(axis=1)
    return ankles > joints[:, ms.HEAD, 1]


def entries(on: np.ndarray, off: np.ndarray) -> int:
    """How often the state enters `on` (from the start or after `off`); frames in neither keep the state."""
    count, state = 0, "off"
    for is_on, is_off in zip(on, off):
        if is_on and state == "off":
            count, state = count + 1, "on"
        elif is_off:
            state = "off"
    return count


def seconds_of(mask: np.ndarray, fps: float) -> float:
    return float(np.sum(mask) / fps)


def posture_seconds(joints: np.ndarray, fps: float, name: str) -> float:
    return sum((b - a) / fps for posture, a, b in ms.posture_segments(joints, fps) if posture == name)


def activity_mps(joints: np.ndarray, fps: float) -> float:
    """Median speed of the hands and feet relative to the pelvis, standard-body m/s."""
    rel = (joints[:, [ms.WRISTS["left"], ms.WRISTS["right"], ms.FEET["left"][0], ms.FEET["right"][0]]]
           - joints[:, :1]) * ms.standard_scale(joints)
    return float(np.median(np.linalg.norm(np.diff(gaussian_smooth(rel, 1.0), axis=0), axis=-1).mean(1)) * fps)


def standing_share(joints: np.ndarray, fps: float) -> float:
    return float(np.mean(ms.posture_frames(joints, fps) == "standing"))


def cadence(joints: np.ndarray, fps: float) -> float:
    return ms.steps(joints, fps) / ((len(joints) - 1) / fps)


# ----------------------------------------------------------------------------------------------- checks
Result = tuple[bool, float]


def waves(side: str | None) -> Callable[[np.ndarray, float], Result]:
    def test(j, fps):
        left, right = (behaviour.hand_waves(j, s, fps=fps) for s in ("left", "right"))
        done = (left and right) if side is None else (right and not left) if side == "right" else (left and not right)
        raised = max(ms.wrist_heights(j, s)[0].max() for s in (("left", "right") if side is None else (side,)))
        return done, raised
    return test


def raises(side: str) -> Callable[[np.ndarray, float], Result]:
    other = "left" if side == "right" else "right"

    def test(j, fps):
        levels = ms.raised_hands(j, fps)
        up = ("raised", "overhead")
        return levels[side] in up and levels[other] not in up, float(ms.wrist_heights(j, side)[0].max())
    return test


def turns(sign: float) -> Callable[[np.ndarray, float], Result]:
    def test(j, fps):
        net = ms.turning(j, fps).net_deg
        return sign * net >= TURN_ASKED_DEG, net
    return test


def goes(directions: tuple[str, ...], key: str) -> Callable[[np.ndarray, float], Result]:
    def test(j, fps):
        moved = ms.travel(j, fps)
        return ms.direction_name(moved) in directions, getattr(moved, key)
    return test


def walks(min_forward_m: float, key: str) -> Callable[[np.ndarray, float], Result]:
    """Forward at a walk (measures.gait: not a run; upright: not a crawl); the key number is a Travel field."""
    def test(j, fps):
        moved = ms.travel(j, fps)
        walking = ms.gait(moved, cadence(j, fps)) == "walk" and standing_share(j, fps) >= UPRIGHT_SHARE
        return walking and moved.forward_m >= min_forward_m, getattr(moved, key)
    return test


def runs(j, fps):
    moved = ms.travel(j, fps)
    return ms.gait(moved, cadence(j, fps)) in ("jog", "run", "sprint"), moved.moving_speed_mps


def still(j, fps):
    track = ms.pelvis_track(j, fps)
    away = float(np.linalg.norm(track - track[0], axis=-1).max())
    return away < STILL_M, away


def bows(j, fps):
    torso = j[:, NECK] - j[:, ms.PELVIS]
    tilt = np.degrees(np.arctan2((torso * facing(j, fps)).sum(-1), torso[:, 1]))
    tilt = gaussian_smooth(tilt, 0.1 * fps)
    tilt = float(tilt.max() - np.percentile(tilt, 10))  # over the clip's own upright lean (SMPL's is ~17 deg)
    in_place = ms.travel(j, fps).radius_m <= ms.IN_PLACE_RADIUS_M
    return tilt >= BOW_TILT_DEG and in_place and standing_share(j, fps) >= UPRIGHT_SHARE, tilt


def dances(j, fps):
    energy = activity_mps(j, fps)
    near = ms.travel(j, fps).radius_m <= DANCE_RADIUS_M
    return energy >= DANCE_MPS and near and standing_share(j, fps) >= UPRIGHT_SHARE, energy


def salsa(j, fps):
    return dances(j, fps)[0] and cadence(j, fps) >= SALSA_STEPS_PER_S, cadence(j, fps)


def jumps(where: str | None) -> Callable[[np.ndarray, float], Result]:
    def test(j, fps):
        flights, moved = ms.jumps(j, fps), ms.travel(j, fps)
        done = bool(flights) and (where is None or (moved.forward_m >= ms.MIN_TRAVEL_M if where == "forward"
                                                    else moved.radius_m <= ms.IN_PLACE_RADIUS_M))
        return done, max(((b - a) / fps for a, b in flights), default=0.0)
    return test


def kicks(j, fps):
    """The key number is the fastest ankle (relative to the pelvis), lifted or not."""
    lift, scale = ms.foot_lift(j), ms.standard_scale(j)
    done, fastest = False, 0.0
    for index, side in enumerate(ms.SIDES):
        rel = (j[:, ms.FEET[side][0]] - j[:, ms.PELVIS]) * scale
        speed = float(np.linalg.norm(np.diff(rel, axis=0), axis=-1).max() * fps)
        done |= speed >= KICK_FOOT_MPS and lift[:, index].max() >= KICK_LIFT_M
        fastest = max(fastest, speed)
    return done, fastest


def punches(j, fps):
    standing = ms.posture_frames(j, fps) == "standing"
    reach = max(float((arm_reach(j, fps, side) * standing).max()) for side in ms.SIDES)
    return reach >= REACH_M, reach


def picks_up(j, fps):
    h = ms.heights(j)
    wrist = h[:, [ms.WRISTS["left"], ms.WRISTS["right"]]].min(axis=1)
    return bool(np.any((wrist <= FLOOR_M) & (h[:, ms.HEAD] >= PICK_HEAD_M))), float(wrist.min())


def climbs(j, fps):
    h = ms.heights(j)
    rise = h[:, ms.PELVIS] - h[:int(0.5 * fps), ms.PELVIS].mean()
    up = (h[:, list(ms.FEET["left"] + ms.FEET["right"])].min(axis=1) >= CLIMB_M) & (rise >= CLIMB_M)
    return seconds_of(up, fps) >= CLIMB_S, float(rise.max())


def sits_down(j, fps):
    names = [name for name, _, _ in ms.posture_segments(j, fps)]
    done = "standing" in names and "sitting" in names[names.index("standing"):]
    return done, posture_seconds(j, fps, "sitting")


def sits_on_floor(j, fps):
    low = (ms.posture_frames(j, fps) == "sitting") & (ms.heights(j)[:, ms.PELVIS] < ms.FLOOR_SIT_PELVIS_M)
    return seconds_of(low, fps) >= ms.MIN_POSTURE_S, seconds_of(low, fps)


def crouches(j, fps):
    """Low on the feet: crouching, or a deep squat measures reads as sitting (a chair sit passes too)."""
    names = ms.posture_frames(j, fps)
    low = np.isin(names, ("crouching", "sitting")) & (ms.heights(j)[:, ms.PELVIS] >= ms.FLOOR_SIT_PELVIS_M)
    low &= ms.foot_lift(j).max(axis=1) < ms.FEET_UP_M
    return seconds_of(low, fps) >= ms.MIN_POSTURE_S, seconds_of(low, fps)


def kneels(j, fps):
    held = posture_seconds(j, fps, "kneeling")
    return held >= ms.MIN_POSTURE_S, held


def lies(j, fps):
    lying = ms.posture_frames(j, fps) == "lying"
    path = np.linalg.norm(np.diff(ms.pelvis_track(j, fps), axis=0), axis=-1)[lying[1:]].sum()
    return seconds_of(lying, fps) >= LIE_S and path < LIE_PATH_M, seconds_of(lying, fps)


def gets_up(j, fps):
    head = ms.heights(j)[:, ms.HEAD]
    low, end = float(head[:len(head) // 2].min()), float(head[-int(0.5 * fps):].mean())
    return low < LOW_HEAD_M and end >= UPRIGHT_HEAD_M, end - low


def flat(j) -> bool:
    return bool(np.mean(np.abs(torso_elevation_deg(j)) <= FLAT_DEG) >= FLAT_FRACTION)


def crawls(j, fps):
    moved = ms.travel(j, fps)
    low = np.mean(ms.heights(j)[:, ms.PELVIS] < ms.CROUCH_PELVIS_M) >= FLAT_FRACTION
    return flat(j) and low and moved.displacement_m >= CRAWL_M, moved.displacement_m


def flips(kind: str) -> Callable[[np.ndarray, float], Result]:
    """cartwheel: upside down with a hand on the floor, the head never on it; roll: upside down with the head on
    the floor; backflip: upside down with neither hand on the floor."""
    def test(j, fps):
        up = inverted(j)
        h = ms.heights(j)
        hand_down = h[:, [ms.WRISTS["left"], ms.WRISTS["right"]]].min(axis=1) <= FLOOR_M
        head_down = h[:, ms.HEAD] <= HEAD_DOWN_M
        long_enough = seconds_of(up, fps) >= INVERTED_S
        if kind == "cartwheel":
            done = long_enough and bool(np.any(up & hand_down)) and not head_down.any()
        elif kind == "roll":
            done = long_enough and bool(np.any(head_down))
        else:
            done = long_enough and not np.any(up & hand_down)
        return done, seconds_of(up, fps)
    return test


def jumping_jacks(j, fps):
    h, scale = ms.heights(j), ms.standard_scale(j)
    spread = np.linalg.norm(j[:, ms.FEET["left"][0], [0, 2]] - j[:, ms.FEET["right"][0], [0, 2]], axis=-1) * scale
    arms_up = h[:, [ms.WRISTS["left"], ms.WRISTS["right"]]].min(axis=1) >= h[:, ms.HEAD] - JACK_WRIST_M
    cycles = entries(arms_up & (spread >= JACK_SPREAD_M), spread < JACK_CLOSED_M)
    return cycles >= CYCLES, cycles


def push_ups(j, fps):
    shoulders = gaussian_smooth(ms.heights(j)[:, [ms.SHOULDERS["left"], ms.SHOULDERS["right"]]].mean(axis=1), 1.0)
    middle = np.median(shoulders)
    cycles = entries(shoulders >= middle + PUSHUP_M / 2, shoulders <= middle - PUSHUP_M / 2)
    return flat(j) and ms.travel(j, fps).radius_m <= ms.IN_PLACE_RADIUS_M and cycles >= CYCLES, cycles


def throws(j, fps):
    scale, ahead_of = ms.standard_scale(j), facing(j, fps)
    fastest, window = 0.0, int(THROW_WINDOW_S * fps)
    for side in ms.SIDES:
        rel = gaussian_smooth((j[:, ms.WRISTS[side]] - j[:, ms.SHOULDERS[side]]) * scale, 1.0)
        ahead = (rel * ahead_of).sum(-1)
        wound = np.convolve((ahead <= -WINDUP_M) & (rel[:, 1] >= 0), np.ones(window), "full")[:len(ahead)] > 0
        speed = np.diff(ahead) * fps * (rel[1:, 1] >= -WINDUP_M) * wound[:-1]
        fastest = max(fastest, float(speed.max()))
    return fastest >= THROW_MPS, fastest


def spins(j, fps):
    turn = ms.turning(j, fps)
    return ms.is_spin(turn, ms.travel(j, fps)), turn.net_deg


def circles(j, fps):
    turn = ms.turning(j, fps)
    return ms.is_circle(turn, ms.travel(j, fps)), turn.net_deg


def idles(j, fps):
    moved, levels = ms.travel(j, fps), ms.raised_hands(j, fps)
    calm = activity_mps(j, fps) < IDLE_MPS and not {"raised", "overhead"} & set(levels.values())
    return ms.stays_in_place(moved) and standing_share(j, fps) == 1.0 and calm, moved.radius_m


def hops(j, fps):
    side = ms.hop_side(j, fps)
    return side is not None, float((ms.foot_lift(j) > ms.HOP_HELD_M).mean(axis=0).max())


def zombie(j, fps):
    both = np.minimum(arm_reach(j, fps, "left"), arm_reach(j, fps, "right")) >= REACH_M
    return ms.travel(j, fps).forward_m >= WALK_M and both.mean() >= ZOMBIE_FRACTION, float(both.mean())


@dataclass(frozen=True)
class Check:
    text: str  # the table's check column
    unit: str  # of the key number
    test: Callable[[np.ndarray, float], Result]
    real: tuple[str, ...] = ()  # real clips of the action (benchmarks/_real_clips.py specs)


BANDAI_WALKS = ("bandai:walk", "cmu:07_01", "cmu:07_02", "cmu:08_01", "cmu:08_02")
CMU_JUMPS = ("cmu:13_39", "cmu:13_40", "cmu:13_41", "cmu:13_42")
CMU_FORWARD_JUMPS = ("cmu:13_11", "cmu:13_13", "cmu:13_19", "cmu:13_32", "deepmimic:humanoid3d_jump")
CHECKS: dict[str, Check] = {
    "walk": Check(f"walk gait, forward >= {WALK_M:g} m", "m", walks(WALK_M, "forward_m"), BANDAI_WALKS),
    "walk_slow": Check(f"walk gait, forward >= {ms.MIN_TRAVEL_M:g} m", "m/s", walks(ms.MIN_TRAVEL_M, "mean_speed_mps"),
                       ("cmu:07_04", "cmu:07_05", "cmu:08_04", "cmu:08_11")),  # CMU's slow walks
    "walk_quick": Check(f"walk gait, forward >= {WALK_M:g} m", "m/s", walks(WALK_M, "mean_speed_mps"),
                        ("cmu:07_12", "cmu:08_05", "cmu:08_07")),  # CMU's brisk walk and strides
    "run": Check("gait jog/run/sprint (measures.gait)", "m/s", runs,
                 ("bandai:run", "bandai:dash", "cmu:09_01", "cmu:09_05", "deepmimic:humanoid3d_run")),
    "backward": Check("travels backward (+-67 deg)", "m fwd", goes(("backward", "backward-left", "backward-right"),
                                                                    "forward_m"), ("bandai:walk-back",)),
    "left": Check("travels left / forward-left", "m left", goes(("left", "forward-left", "backward-left"), "left_m"),
                  ("bandai:walk-left",)),
    "right": Check("travels right / forward-right", "m left", goes(("right", "forward-right", "backward-right"),
                                                                   "left_m"), ("bandai:walk-right",)),
    "still": Check(f"pelvis < {STILL_M:g} m from start", "m", still, ("idle:*",)),
    "turn_right": Check(f"turns right >= {TURN_ASKED_DEG:g} deg", "deg", turns(-1.0), ("bandai:walk-turn-right",)),
    "turn_left": Check(f"turns left >= {TURN_ASKED_DEG:g} deg", "deg", turns(1.0), ("bandai:walk-turn-left",)),
    "wave_right": Check("right hand waves, left not", "m up", waves("right"), ("bandai:wave-right-hand", "bandai:bye")),
    "wave_left": Check("left hand waves, right not", "m up", waves("left"), ("bandai:wave-left-hand",)),
    "wave_both": Check("both hands wave", "m up", waves(None), ("bandai:wave-both-hands", "bandai:byebye")),
    "raise_both": Check("both wrists over head 0.4 s", "m up", lambda j, fps: (
        behaviour.hands_up(j, fps=fps), max(ms.wrist_heights(j, s)[1].max() for s in ms.SIDES)),
        ("bandai:raise-up-both-hands",)),
    "raise_right": Check("right wrist raised, left not", "m up", raises("right"), ("bandai:raise-up-right-hand",)),
    "raise_left": Check("left wrist raised, right not", "m up", raises("left"), ("bandai:raise-up-left-hand",)),
    "bow": Check(f"torso tilts {BOW_TILT_DEG:g} deg further, standing in place", "deg", bows,
                 ("bandai:bow", "m2m:Bow")),
    "dance": Check(f"upright, hands+feet >= {DANCE_MPS:g} m/s, within {DANCE_RADIUS_M:g} m", "m/s", dances,
                   ("bandai:dance-short", "deepmimic:humanoid3d_dance_a", "deepmimic:humanoid3d_dance_b", "cmu:05_02",
                    "cmu:05_03", "cmu:05_11", "cmu:05_12", "m2m:Dance_Loop", "m2m:Dance_Charleston")),
    "jump": Check("a flight (measures.jumps)", "s", jumps(None), CMU_JUMPS + CMU_FORWARD_JUMPS),
    "jump_forward": Check(f"a flight, forward >= {ms.MIN_TRAVEL_M:g} m", "s", jumps("forward"), CMU_FORWARD_JUMPS),
    "jump_in_place": Check("a flight, in place", "s", jumps("in place"), CMU_JUMPS),
    "kick": Check(f"ankle >= {KICK_FOOT_MPS:g} m/s vs pelvis, foot >= {KICK_LIFT_M:g} m up", "m/s", kicks,
                  ("bandai:kick", "deepmimic:humanoid3d_kick", "cmu:10_01", "cmu:10_02", "cmu:10_03", "cmu:10_05",
                   "cmu:10_06", "cmu:11_01")),
    "punch": Check(f"wrist >= {REACH_M:g} m ahead at shoulder height, standing", "m", punches,
                   ("bandai:punch", "deepmimic:humanoid3d_punch", "deepmimic:sie_humanoid3d_punch_forward00",
                    "deepmimic:sie_humanoid3d_punch_forward01", "cmu:13_18", "m2m:Punch_Cross", "m2m:Punch_Jab",
                    "m2m:Fighting_Right_Jab", "m2m:Fighting_Left_Jab")),
    "pick_up": Check(f"a wrist <= {FLOOR_M:g} m up, head >= {PICK_HEAD_M:g} m", "m", picks_up, ("cmu:02_06",)),
    "climb": Check(f"feet and pelvis >= {CLIMB_M:g} m up for {CLIMB_S:g} s", "m", climbs,
                   ("cmu:13_35", "cmu:13_36", "cmu:13_37", "cmu:13_38", "cmu:14_21", "cmu:14_22", "cmu:14_23")),
    "sit_down": Check("standing, then sitting (measures)", "s", sits_down,
                      ("cmu:13_01", "cmu:14_27", "cmu:14_28", "cmu:14_29", "cmu:14_30", "cmu:14_31", "cmu:14_32",
                       "m2m:Sitting_Enter")),
    "sit_floor": Check("sitting, pelvis on the floor 0.5 s", "s", sits_on_floor, ("m2m:Meditate",)),
    "crouch": Check("low on the feet 0.5 s", "s", crouches,
                    ("cmu:13_30", "m2m:Crouch_Idle_Loop", "m2m:Crouch_Fwd_Loop")),
    "kneel": Check("kneeling 0.5 s (measures)", "s", kneels, ("m2m:Kneeling_Tired", "m2m:Fixing_Kneeling")),
    "lie": Check(f"lying {LIE_S:g} s, not crawling", "s", lies,
                 ("m2m:Sleeping", "m2m:Death01", "deepmimic:humanoid3d_getup_facedown",
                  "deepmimic:humanoid3d_getup_faceup")),
    "get_up": Check(f"head < {LOW_HEAD_M:g} m, ends > {UPRIGHT_HEAD_M:g} m", "m", gets_up,
                    ("deepmimic:humanoid3d_getup_facedown", "deepmimic:humanoid3d_getup_faceup")),
    "crawl": Check(f"torso flat, low, moves >= {CRAWL_M:g} m", "m", crawls,
                   ("deepmimic:humanoid3d_crawl", "m2m:Crawl_RM")),
    "cartwheel": Check("upside down, hand on floor", "s", flips("cartwheel"), ("deepmimic:humanoid3d_cartwheel",)),
    "roll": Check("upside down, head on floor", "s", flips("roll"), ("deepmimic:humanoid3d_roll", "m2m:Roll")),
    "backflip": Check("upside down, no hand down", "s", flips("backflip"),
                      ("deepmimic:humanoid3d_backflip", "m2m:Backflip")),
    "jumping_jacks": Check(f">= {CYCLES} arms-up legs-apart cycles", "cycles", jumping_jacks,
                           ("cmu:13_30", "m2m:Jumping_Jacks")),  # 13_31's joints hold no jumping jack
    "push_up": Check(f"torso flat, >= {CYCLES} dips of {PUSHUP_M:g} m", "cycles", push_ups, ("m2m:Pushup",)),
    "throw": Check(f"wind-up, then wrist >= {THROW_MPS:g} m/s forward", "m/s", throws, ("m2m:Throw_Object",)),
    "spin": Check("measures.is_spin", "deg", spins, ("deepmimic:humanoid3d_spin", "deepmimic:humanoid3d_dance_spin")),
    "circle": Check("measures.is_circle", "deg", circles),
    "idle": Check(f"in place, standing, calm (< {IDLE_MPS:g} m/s)", "m", idles, ("idle:*",)),
    "salsa": Check(f"dance + >= {SALSA_STEPS_PER_S:g} steps/s", "steps/s", salsa, ("salsa:*",)),
    "hop": Check("measures.hop_side", "held", hops),
    "zombie": Check(f"forward >= {WALK_M:g} m, both arms ahead", "share", zombie,
                    ("deepmimic:humanoid3d_zombie_walk", "deepmimic:humanoid3d_long_zombie")),
}
