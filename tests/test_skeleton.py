import numpy as np

from moscale.motion import skeleton


def test_chains_follow_parents():
    for chain in skeleton.KINEMATIC_CHAINS:
        for parent, child in zip(chain[:-1], chain[1:]):
            assert skeleton.PARENTS[child] == parent


def test_every_joint_but_root_is_in_a_chain_once():
    covered = [j for chain in skeleton.KINEMATIC_CHAINS for j in chain[1:]]
    assert sorted(covered) == list(range(1, skeleton.NUM_JOINTS))


def test_rest_offsets_have_target_lengths():
    offsets = skeleton.rest_offsets_m()
    np.testing.assert_allclose(np.linalg.norm(offsets[1:], axis=1), skeleton.BONE_LENGTHS_M[1:])
    assert np.all(offsets[0] == 0)


def test_feature_slices_tile_263():
    slices = [skeleton.ROOT_SLICE, skeleton.RIC_SLICE, skeleton.ROT_SLICE, skeleton.VEL_SLICE, skeleton.CONTACT_SLICE]
    assert slices[0].start == 0 and slices[-1].stop == skeleton.FEATURE_DIM
    assert all(a.stop == b.start for a, b in zip(slices[:-1], slices[1:]))
