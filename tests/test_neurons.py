"""Neuron splitting, merging and canonical order."""

import numpy as np
import pytest
import scipy.optimize
import torch

from landscape_hpc.models.init import InitSpec, initial_theta
from landscape_hpc.models.loss import EmpiricalLoss
from landscape_hpc.models.network import NetSpec, Network
from landscape_hpc.models.neurons import canonical_order, merge_neurons, permute_neurons, split_neuron
from test_derivatives import make_loss


def underparameterised_problem(activation="tanh", biases=True):
    """Width-2 student of a width-3 teacher (d = 2): minima with non-zero loss."""
    obj = make_loss(activation, (2,), biases, n=60, d=2)
    teacher = Network(NetSpec(input_dim=2, widths=3, activation=activation, biases=biases))
    y = teacher(initial_theta(teacher, InitSpec(kind="normal"), seed=11), obj.x)
    return EmpiricalLoss(obj.net, obj.x, y, obj.loss_spec)


def critical_point(obj, seed=1, tol=1e-11):
    """A critical point of obj found by trust-region Newton with the exact Hessian."""
    theta0 = initial_theta(obj.net, InitSpec(), seed=seed).numpy()
    t = lambda v: torch.from_numpy(v)
    res = scipy.optimize.minimize(
        lambda v: obj.loss(t(v)).item(), theta0, jac=lambda v: obj.gradient(t(v)).numpy(),
        hess=lambda v: obj.hessian(t(v)).numpy(), method="trust-exact",
        options={"gtol": 1e-13, "maxiter": 2000})
    theta = t(res.x)
    assert obj.gradient(theta).abs().max() < tol
    return theta


@pytest.mark.parametrize("gamma", [0.5, 0.2, 1.7, -0.4])
@pytest.mark.parametrize("at", [None, 0, 2])
def test_split_preserves_function_and_criticality(gamma, at):
    obj = underparameterised_problem()
    theta = critical_point(obj)
    assert obj.loss(theta) > 1e-4
    net2, theta2 = split_neuron(obj.net, theta, 1, gamma, at=at)
    assert net2.spec.widths == (3,)
    torch.testing.assert_close(net2(theta2, obj.x), obj.net(theta, obj.x), rtol=0, atol=1e-14)
    obj2 = type(obj)(net2, obj.x, obj.y, obj.loss_spec)
    assert obj2.gradient(theta2).abs().max() < 1e-11
    a = net2.view(theta2, "a")[0]
    a_old = obj.net.view(theta, "a")[0, 1]
    assert sorted([a[i].item() for i in range(3) if torch.equal(net2.view(theta2, "w")[i],
                                                            obj.net.view(theta, "w")[1])]) == \
        pytest.approx(sorted([gamma * a_old.item(), (1 - gamma) * a_old.item()]))


def test_split_deep_and_batched():
    obj = make_loss("softplus", (3, 2), (True, True, True), output_dim=2, n=30)
    thetas = initial_theta(obj.net, InitSpec(), seed=4, batch=3)
    net2, thetas2 = split_neuron(obj.net, thetas, 2, 0.3, layer=1)
    assert net2.spec.widths == (4, 2) and thetas2.shape == (3, net2.num_params)
    torch.testing.assert_close(net2(thetas2, obj.x), obj.net(thetas, obj.x), rtol=0, atol=1e-14)
    net3, thetas3 = split_neuron(obj.net, thetas, 0, 0.8, layer=2)
    torch.testing.assert_close(net3(thetas3, obj.x), obj.net(thetas, obj.x), rtol=0, atol=1e-14)


def test_merge_undoes_split():
    obj = make_loss("g", (3,), True, n=20)
    theta = initial_theta(obj.net, InitSpec(), seed=1)
    net2, theta2 = split_neuron(obj.net, theta, 0, 0.25)
    net3, theta3 = merge_neurons(net2, theta2, [0, 1])
    assert net3.spec == obj.net.spec
    torch.testing.assert_close(theta3, theta, rtol=0, atol=1e-15)


def test_merge_means_incoming_sums_outgoing():
    obj = make_loss("relu", (4,), True, n=5, d=2)
    theta = initial_theta(obj.net, InitSpec(kind="normal"), seed=2)
    net2, theta2 = merge_neurons(obj.net, theta, [3, 1])
    w, a = obj.net.view(theta, "w"), obj.net.view(theta, "a")[0]
    # the merged neuron takes the place of neuron 3, the first of the group
    torch.testing.assert_close(net2.view(theta2, "w")[2], (w[1] + w[3]) / 2)
    torch.testing.assert_close(net2.view(theta2, "a")[0, 2], a[1] + a[3])
    torch.testing.assert_close(net2.view(theta2, "w")[1], w[2])


def test_canonical_order_is_permutation_invariant():
    obj = make_loss("tanh", (4, 3), True, n=10)
    theta = initial_theta(obj.net, InitSpec(), seed=3)
    shuffled = permute_neurons(obj.net, theta, [2, 0, 3, 1], layer=1)
    shuffled = permute_neurons(obj.net, shuffled, [1, 2, 0], layer=2)
    torch.testing.assert_close(obj.net(shuffled, obj.x), obj.net(theta, obj.x), rtol=0, atol=1e-14)
    assert torch.equal(canonical_order(obj.net, shuffled), canonical_order(obj.net, theta))
    w = obj.net.view(canonical_order(obj.net, theta), "w1")
    assert np.all(np.diff(w[:, 0].numpy()) >= 0)


def test_bad_neuron_operations():
    obj = make_loss("tanh", (2,), False, fixed_readout=1.0)
    theta = initial_theta(obj.net, InitSpec(), seed=0)
    with pytest.raises(ValueError, match="fixed"):
        split_neuron(obj.net, theta, 0, 0.5)
    obj = make_loss("tanh", (2,), False)
    theta = initial_theta(obj.net, InitSpec(), seed=0)
    with pytest.raises(ValueError, match="out of range"):
        split_neuron(obj.net, theta, 5, 0.5)
    with pytest.raises(ValueError, match="at least two"):
        merge_neurons(obj.net, theta, [1])
    with pytest.raises(ValueError, match="not a permutation"):
        permute_neurons(obj.net, theta, [0, 0])
