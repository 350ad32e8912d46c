"""Losses (Eq. 5-10) against hand computations."""
import math

import numpy as np
import pytest
import torch

from sgpose_lib.losses import DynamicWeightAverage, joints_mse_loss, seg_bce_loss, total_loss


def test_joints_mse_hand_case_with_zero_weight_joint():
    pred = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[9.0, 9.0], [9.0, 9.0]]]])  # (1, 2, 2, 2)
    target = torch.tensor([[[[0.0, 2.0], [1.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]]])
    weight = torch.tensor([[1.0, 0.0]])
    # joint 0: squared errors 1, 0, 4, 16 -> mean 5.25; joint 1 weighted out -> 0
    # official: sum_k 0.5 * MSE_k / K = 0.5 * (5.25 + 0) / 2
    expected = 0.5 * (5.25 + 0.0) / 2
    assert joints_mse_loss(pred, target, weight).item() == pytest.approx(expected)
    assert joints_mse_loss(pred, target, weight[..., None]).item() == pytest.approx(expected)


def test_seg_bce_hand_case_two_maps():
    z1 = np.array([[[[0.0, 2.0], [-1.0, 3.0]]]])
    z2 = np.array([[[[-2.0, 0.5], [1.0, -4.0]]]])
    y = np.array([[[1.0, 0.0], [0.0, 1.0]]])                 # (B, H, W)

    def bce(z):
        p = 1 / (1 + np.exp(-z[:, 0]))
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))

    expected = (bce(z1) + bce(z2)) / 2
    logits = [torch.tensor(z1), torch.tensor(z2)]
    assert seg_bce_loss(logits, torch.tensor(y)).item() == pytest.approx(expected, rel=1e-12)
    assert seg_bce_loss(logits, torch.tensor(y)[:, None]).item() == pytest.approx(expected)
    assert seg_bce_loss([], torch.tensor(y)).item() == 0.0


def test_seg_bce_is_stable_for_large_logits():
    logits = [torch.tensor([[[[100.0, -100.0]]]])]
    loss = seg_bce_loss(logits, torch.tensor([[[0.0, 1.0]]]))
    assert torch.isfinite(loss) and loss.item() == pytest.approx(100.0)


def test_total_loss_formula():
    out = total_loss(torch.tensor(0.01), torch.tensor(5.0), w_key=1.2, w_seg=0.8, lam=0.002)
    assert out.item() == pytest.approx(0.8 * 0.002 * 5.0 + 1.2 * 0.01)


def _softmax_weights(r, t):
    e = [math.exp(v / t) for v in r]
    return [len(r) * v / sum(e) for v in e]


def test_dwa_step_worked_example_and_sum():
    dwa = DynamicWeightAverage(2, "step", 1.0)
    assert dwa.weights() == [1.0, 1.0]                       # step 1: no history
    dwa.update([1.0, 2.0])
    assert dwa.weights() == [1.0, 1.0]                       # step 2: one previous value
    dwa.update([0.5, 2.0])                                   # r = (0.5, 1.0)
    e1, e2 = math.exp(0.5), math.exp(1.0)
    assert dwa.weights() == pytest.approx([2 * e1 / (e1 + e2), 2 * e2 / (e1 + e2)])
    rng = np.random.default_rng(0)
    for _ in range(20):
        dwa.update(list(rng.uniform(0.1, 3.0, 2)))
        assert sum(dwa.weights()) == pytest.approx(2.0)


def test_dwa_temperature_two():
    dwa = DynamicWeightAverage(2, "step", temperature=2.0)
    dwa.update([2.0, 1.0])
    dwa.update([1.0, 1.5])                                   # r = (0.5, 1.5)
    e1, e2 = math.exp(0.25), math.exp(0.75)
    assert dwa.weights() == pytest.approx([2 * e1 / (e1 + e2), 2 * e2 / (e1 + e2)])


def test_dwa_epoch_mode_uses_epoch_means_and_is_constant_within_epoch():
    dwa = DynamicWeightAverage(2, "epoch", 2.0)
    for losses in ([1.0, 4.0], [3.0, 2.0]):                  # epoch 1 means (2, 3)
        dwa.update(losses)
        assert dwa.weights() == [1.0, 1.0]
    dwa.end_epoch()
    for losses in ([1.0, 3.0], [1.0, 3.0], [1.0, 3.0]):      # epoch 2 means (1, 3)
        dwa.update(losses)
        assert dwa.weights() == [1.0, 1.0]
    dwa.end_epoch()
    expected = _softmax_weights([1 / 2, 3 / 3], 2.0)
    seen = []
    for losses in ([9.0, 0.1], [0.01, 7.0]):                 # epoch 3: weights fixed
        seen.append(dwa.weights())
        dwa.update(losses)
    assert seen[0] == pytest.approx(expected) and seen[1] == seen[0]


def test_dwa_off_is_always_one():
    dwa = DynamicWeightAverage(2, "off")
    for losses in ([1.0, 2.0], [0.1, 5.0], [3.0, 0.2]):
        dwa.update(losses)
        dwa.end_epoch()
        assert dwa.weights() == [1.0, 1.0]


@pytest.mark.parametrize("mode", ["step", "epoch"])
def test_dwa_state_dict_round_trip(mode):
    rng = np.random.default_rng(1)
    stream = [list(rng.uniform(0.1, 3.0, 2)) for _ in range(30)]
    a = DynamicWeightAverage(2, mode, 1.5)
    for i, losses in enumerate(stream[:13]):
        a.update(losses)
        if i % 4 == 3:
            a.end_epoch()
    b = DynamicWeightAverage(2, "off", 1.0)
    b.load_state_dict(a.state_dict())
    for i, losses in enumerate(stream[13:], start=13):
        assert a.weights() == b.weights()
        a.update(losses)
        b.update(losses)
        if i % 4 == 3:
            a.end_epoch()
            b.end_epoch()
    assert a.weights() == b.weights()


@pytest.mark.parametrize("mode", ["step", "epoch"])
def test_dwa_on_tensors_follows_the_float_weights_and_resumes_as_floats(mode):
    """train.log_every > 1 feeds DWA the losses as a device tensor: the same Eq. 8-10 weights
    (in float32), and a state_dict of plain floats that the float path continues from."""
    rng = np.random.default_rng(2)
    stream = [list(rng.uniform(0.1, 3.0, 2)) for _ in range(12)]
    on_floats, on_tensors = DynamicWeightAverage(2, mode, 1.5), DynamicWeightAverage(2, mode, 1.5)
    for i, losses in enumerate(stream):
        w_f, w_t = on_floats.weights(), on_tensors.weights()
        assert [float(v) for v in w_t] == pytest.approx(w_f, rel=1e-6)
        on_floats.update(losses)
        on_tensors.update(torch.tensor(losses, dtype=torch.float64))
        if i % 3 == 2:
            on_floats.end_epoch()
            on_tensors.end_epoch()
    assert isinstance(on_tensors.weights()[0], torch.Tensor)
    state = on_tensors.state_dict()
    assert all(type(v) is float for h in state["history"] for v in h)
    resumed = DynamicWeightAverage(2, "off")
    resumed.load_state_dict(state)
    assert resumed.weights() == pytest.approx(on_floats.weights(), rel=1e-6)
