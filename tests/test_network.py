"""Network layout, views, initialisers and validation."""

import math

import pydantic
import pytest
import torch

from landscape_hpc.models.init import InitSpec, initial_theta
from landscape_hpc.models.network import NetSpec, Network


def test_one_hidden_layer_layout_and_views():
    net = Network(NetSpec(input_dim=2, widths=3, biases=True))
    assert net.names == ("w1", "b1", "a", "c") and net.num_params == 3 * 2 + 3 + 3 + 1
    theta = torch.arange(13.0)
    assert net.view(theta, "w").shape == (3, 2) and net.view(theta, "w")[1, 0] == 2
    assert net.view(theta, "b").tolist() == [6, 7, 8]
    assert net.view(theta, "a").tolist() == [[9, 10, 11]] and net.view(theta, "c").tolist() == [12]
    batch = torch.stack([theta, theta + 1])
    assert net.view(batch, "w").shape == (2, 3, 2)
    assert torch.equal(net.pack(w=net.view(batch, "w"), b=net.view(batch, "b"),
                                a=net.view(batch, "a"), c=net.view(batch, "c")), batch)


def test_forward_matches_explicit_formula():
    net = Network(NetSpec(input_dim=2, widths=(3, 2), output_dim=2, activation="tanh",
                          biases=(True, False, True)))
    assert net.names == ("w1", "b1", "w2", "a", "c")
    theta = initial_theta(net, InitSpec(kind="normal"), seed=0)
    x = torch.randn(7, 2, dtype=torch.float64)
    h1 = torch.tanh(x @ net.view(theta, "w1").T + net.view(theta, "b1"))
    h2 = torch.tanh(h1 @ net.view(theta, "w2").T)
    y = h2 @ net.view(theta, "a").T + net.view(theta, "c")
    torch.testing.assert_close(net(theta, x), y)


def test_fixed_readout_soft_committee():
    net = Network(NetSpec(input_dim=4, widths=5, activation="relu", fixed_readout=1.0))
    assert net.names == ("w1",) and net.num_params == 20
    theta = initial_theta(net, InitSpec(), seed=1)
    x = torch.randn(6, 4, dtype=torch.float64)
    torch.testing.assert_close(net(theta, x)[:, 0], torch.relu(x @ net.view(theta, "w").T).sum(1))


def test_initialisers_are_seeded_and_scaled():
    net = Network(NetSpec(input_dim=30, widths=40, biases=True))
    a = initial_theta(net, InitSpec(), seed=5)
    assert torch.equal(a, initial_theta(net, InitSpec(), seed=5))
    assert not torch.equal(a, initial_theta(net, InitSpec(), seed=6))
    w = net.view(a, "w")
    assert w.std().item() == pytest.approx(math.sqrt(2 / 70), rel=0.05)
    assert (net.view(a, "b") == 0).all()
    u = net.view(initial_theta(net, InitSpec(kind="glorot_uniform"), seed=5), "w")
    assert u.abs().max() <= math.sqrt(6 / 70) and u.std().item() == pytest.approx(math.sqrt(2 / 70), rel=0.05)
    tiny = initial_theta(net, InitSpec(kind="normal", scale=1e-11), seed=5)
    assert tiny.std().item() == pytest.approx(1e-11, rel=0.05) and (net.view(tiny, "b") != 0).all()
    batch = initial_theta(net, InitSpec(), seed=5, batch=3)
    assert torch.equal(batch[0], a) and not torch.equal(batch[1], a)


def test_explicit_initial_point():
    net = Network(NetSpec(input_dim=1, widths=1))
    assert initial_theta(net, InitSpec(kind="explicit", theta=[0.5, -2])).tolist() == [0.5, -2]
    with pytest.raises(ValueError, match="3 numbers, the network has 2"):
        initial_theta(net, InitSpec(kind="explicit", theta=[1, 2, 3]))
    with pytest.raises(pydantic.ValidationError, match="theta"):
        InitSpec(kind="explicit")


@pytest.mark.parametrize("kwargs,field,hint", [
    ({"input_dim": 2, "widths": [0]}, "widths", ">= 1"),
    ({"input_dim": 0, "widths": [2]}, "input_dim", "greater than or equal to 1"),
    ({"input_dim": 2, "widths": []}, "widths", "at least 1"),
    ({"input_dim": 2, "widths": [2], "biases": [True]}, "biases", "2 flags"),
    ({"input_dim": 2, "widths": [2], "fixed_readout": [1, 2, 3]}, "fixed_readout", "2 = output_dim"),
    ({"input_dim": 2, "widths": [2], "activation": "swish"}, "activation", "'relu'"),
    ({"input_dim": 2, "widths": [2], "depth": 3}, "depth", "Extra inputs"),
])
def test_bad_specs_name_field_and_accepted_form(kwargs, field, hint):
    with pytest.raises(pydantic.ValidationError) as err:
        NetSpec(**kwargs)
    assert field in str(err.value) and hint in str(err.value)


def test_unknown_block_lists_the_blocks():
    net = Network(NetSpec(input_dim=2, widths=(2, 2)))
    with pytest.raises(KeyError, match="w1, w2, a"):
        net.view(torch.zeros(net.num_params), "b1")
