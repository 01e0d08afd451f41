"""Issue 12's layer tokens (grouped, strided, weight-shared convs, BN without affine) and the
candidates below 2,000 and 1,000 parameters."""
import pytest
import torch
from torch import nn

from effmnist_utils.core.layernet import FRONTIER_SPECS, LayerNet
from effmnist_utils.core.models import build_model, count_params


def test_grouped_convs_cost_a_group_share_and_shuffle():
    """`/G` splits a conv into G groups (weights / G) and adds a parameter-free channel shuffle."""
    net = LayerNet("c8 C16/4 t8/2 g")
    # c8: 1*8*9 = 72 + BN 16; C16/4: 8*16*9/4 = 288 + BN 32; t8/2: 16*8/2 = 64 + BN 16;
    # Linear 8->10: 90
    assert count_params(net) == 72 + 16 + 288 + 32 + 64 + 16 + 90  # 578
    assert sum(isinstance(m, nn.ChannelShuffle) for m in net.modules()) == 2
    # grouped 1x1 of a separable conv: dw 8*9 = 72, pw 8*16/2 = 64, BN 32
    assert count_params(LayerNet("c8 s16/2 g")) - count_params(LayerNet("c8 g")) == (
        72 + 64 + 32 + (16 - 8) * 10)


def test_strided_convs_halve_the_map():
    """`dN` / `DN`: a 3x3 (separable) conv with stride 2 and padding 1 replaces a pool."""
    full, sep = LayerNet("c4 d8 g"), LayerNet("c4 D8 s8 g")
    # c4: 36 + 8; d8: 4*8*9 = 288 + 16; Linear 8->10: 90
    assert count_params(full) == 36 + 8 + 288 + 16 + 90  # 438
    # c4: 44; D8: dw 4*9 = 36 + pw 4*8 = 32 + BN 16; s8: 8*9 + 8*8 + 16 = 152; Linear: 90
    assert count_params(sep) == 44 + 84 + 152 + 90  # 370
    x = torch.zeros(2, 1, 28, 28)
    assert full.features(x).shape == (2, 8, 13, 13)  # 28 -> 26 -> 13
    assert sep.features(x).shape == (2, 8, 11, 11)  # 28 -> 26 -> 13 -> 11


def test_weight_sharing_shares_the_conv_weights():
    """`rK` applies the previous conv K more times: no new conv weights, only a BN per application
    (2N parameters each with norm "bn", none with "bn0"), and the same module objects."""
    once, four = LayerNet("c8 S8 g"), LayerNet("c8 S8 r3 g")
    assert count_params(four) - count_params(once) == 3 * 2 * 8
    free_once, free_four = LayerNet("c8 S8 g", 0.0, "bn0"), LayerNet("c8 S8 r3 g", 0.0, "bn0")
    assert count_params(free_four) == count_params(free_once)
    convs = [m for m in four.features if isinstance(m, nn.Conv2d)]
    assert len(convs) == 1 + 4 * 2 and len({id(c) for c in convs}) == 1 + 2
    assert four(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    # a shared conv gets the gradient of all its applications
    four(torch.randn(2, 1, 28, 28)).sum().backward()
    assert convs[1].weight.grad is not None and convs[1].weight.grad.abs().sum() > 0


def test_bn_without_affine_costs_nothing():
    """norm="bn0": BatchNorm without scale and shift, 0 parameters; the rest is unchanged."""
    # c8: 72; t4: 32; c8: 4*8*9 = 288; Linear 8->10: 90 (with "bn" add 16 + 8 + 16)
    assert count_params(LayerNet("c8 t4 p c8 g", 0.0, "bn0")) == 72 + 32 + 288 + 90
    assert count_params(LayerNet("c8 t4 p c8 g")) == 72 + 32 + 288 + 90 + 16 + 8 + 16


@pytest.mark.parametrize("layers", ["c8 r2 g", "p r1 g", "c8 c12/5 g", "c8 t8/3 g", "c8 C0 g",
                                    "c8 s8/0 g", "r1 g", "c8 e8 g"])
def test_new_tokens_refuse_bad_strings(layers):
    """A repeat must follow a conv that keeps its channel count; groups must divide both counts."""
    with pytest.raises(ValueError):
        LayerNet(layers)


def test_unknown_norm_is_refused():
    with pytest.raises(ValueError, match="norm"):
        LayerNet("c8 g", 0.0, "layer")


def test_tiny_bases_have_the_counts_worked_out_by_hand():
    """t2a: c8 88; s12 8*9+8*12+24 = 192; s12 108+144+24 = 276; s16 108+192+32 = 332;
    s16 144+256+32 = 432 (twice); Linear 16->10 170. t1a: c4 44; s8 36+32+16 = 84;
    s10 72+80+20 = 172; s12 90+120+24 = 234; s12 276; Linear 12->10 130."""
    assert count_params(build_model("t2a")) == 88 + 192 + 276 + 332 + 432 + 432 + 170  # 1922
    assert count_params(build_model("t1a")) == 44 + 84 + 172 + 234 + 276 + 130  # 940


@pytest.mark.parametrize("name", [n for n in FRONTIER_SPECS if n[:2] in ("t1", "t2")])
def test_tiny_candidates_fit_their_budget_and_classify(name):
    """t2* < 2,000 and t1* < 1,000 trainable parameters (BN included); 10 log-probabilities out."""
    net = build_model(name)
    assert count_params(net) < {"t2": 2000, "t1": 1000}[name[:2]], name
    out = net(torch.randn(3, 1, 28, 28))
    assert out.shape == (3, 10) and torch.allclose(out.exp().sum(1), torch.ones(3))
