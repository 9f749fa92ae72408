"""Activation derivatives against central finite differences; spec validation."""

import pydantic
import pytest
import torch

from landscape_hpc.models.activations import PARAMETERS, ActivationSpec, get_activation

SPECS = [
    "relu", {"name": "leaky_relu", "slope": 0.1}, "softplus", {"name": "softplus", "beta": 2.5},
    "sigmoid", "sigmoid2", "tanh", "gelu", "g", {"name": "softplus_sigmoid", "alpha": 0.5,
    "gamma": 2.0}, "exp", "identity",
]


def test_every_activation_is_tested():
    names = {s if isinstance(s, str) else s["name"] for s in SPECS}
    assert names == set(PARAMETERS)


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_derivatives_match_finite_differences(spec):
    act = get_activation(spec)
    z = torch.linspace(-3.1, 2.9, 41)
    z = z[z.abs() > 1e-3]  # stay off the kink of relu-like activations
    h = 1e-5
    vals = act.derivatives(z, 3)
    up, down = act.derivatives(z + h, 3), act.derivatives(z - h, 3)
    for k in range(3):
        fd = (up[k] - down[k]) / (2 * h)
        torch.testing.assert_close(vals[k + 1], fd, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(vals[0], act(z))


def test_named_values():
    z = torch.tensor([-1.0, 0.0, 2.0])
    g = get_activation("g")(z)
    expected = torch.sigmoid(4 * z) + torch.nn.functional.softplus(z)
    torch.testing.assert_close(g, expected)
    torch.testing.assert_close(get_activation("sigmoid2")(z), torch.erf(z / 2**0.5))
    assert get_activation("relu").derivatives(torch.tensor([0.0]), 1)[1].item() == 0.0


def test_spec_from_name_and_mapping():
    assert ActivationSpec.model_validate("tanh").name == "tanh"
    spec = ActivationSpec.model_validate({"name": "leaky_relu", "slope": 0.2})
    assert spec.params == {"slope": 0.2}
    assert str(spec) == "leaky_relu(slope=0.2)"
    assert ActivationSpec.model_validate("softplus_sigmoid").params == {"alpha": 1.0, "gamma": 4.0}


def test_unknown_activation_names_accepted_values():
    with pytest.raises(pydantic.ValidationError) as err:
        ActivationSpec.model_validate("swish")
    assert "relu" in str(err.value) and "softplus_sigmoid" in str(err.value)


def test_parameter_of_another_activation_is_refused():
    with pytest.raises(pydantic.ValidationError, match="does not take beta.*accepts slope"):
        ActivationSpec.model_validate({"name": "leaky_relu", "beta": 2})
    with pytest.raises(pydantic.ValidationError, match="no parameters"):
        ActivationSpec.model_validate({"name": "relu", "slope": 2})
