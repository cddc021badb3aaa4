"""torchvision efficientnet / efficientnet_v2 weights load into the zoo models and give equal outputs.

Runs where torchvision is importable; in this project that is the parity venv:
``PYTHONPATH=. .venv-tv/bin/python -m pytest tests/test_torch_torchvision.py`` (docs/performance.md).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from scalespec.backends import get_backend  # noqa: E402
from scalespec.backends.torch.published import import_published, map_published_keys  # noqa: E402
from scalespec.errors import SpecError  # noqa: E402
from scalespec.ir.resolve import resolve  # noqa: E402
from scalespec.zoo import load_model  # noqa: E402

pytestmark = pytest.mark.torch
B = get_backend("torch")
PAIRS = {f"efficientnet_b{i}": f"efficientnet-b{i}" for i in range(8)} | {
    f"efficientnet_v2_{s}": f"efficientnetv2-{s}" for s in "sml"
}


def zoo(name: str, resolution: int | None = None):
    ref = load_model(name)
    return resolve(ref.spec, variant=ref.variant, resolution=resolution)


def torchvision_model(name: str, device: str = "cpu") -> torch.nn.Module:
    with torch.device(device):
        return getattr(torchvision.models, name)(weights=None).eval()


@pytest.mark.parametrize("tv_name", sorted(PAIRS))
def test_every_torchvision_layout_maps_onto_the_ir(tv_name):
    """Pair keys in order and check roles and shapes (on the meta device: no memory, no time)."""
    state = torchvision_model(tv_name, "meta").state_dict()
    mapping = map_published_keys(zoo(PAIRS[tv_name]), state)
    assert len(mapping) == len([k for k in state if not k.endswith("num_batches_tracked")])
    assert mapping["stem.conv.weight"] == "features.0.0.weight"
    assert mapping["classifier.weight"] == "classifier.1.weight"


def test_wrong_model_is_a_spec_error_naming_the_tensor():
    state = torchvision_model("efficientnet_b1", "meta").state_dict()
    with pytest.raises(SpecError):
        map_published_keys(zoo("efficientnet-b0"), state)
    state = torchvision_model("efficientnet_b2", "meta").state_dict()
    with pytest.raises(SpecError, match=r"stem\.conv\.weight|stages\.|published tensors"):
        map_published_keys(zoo("efficientnet-b3"), state)


@pytest.mark.parametrize("tv_name", sorted(PAIRS))
def test_torchvision_outputs_equal(tv_name):
    torch.manual_seed(0)
    reference = torchvision_model(tv_name)
    with torch.no_grad():  # random BN statistics, so a mis-paired buffer changes the output
        for module in reference.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.2)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.normal_(1, 0.2)
                module.bias.normal_(0, 0.2)
    net = zoo(PAIRS[tv_name], 64)
    model = B.build(net).eval()
    import_published(model, reference.state_dict())
    x = torch.randn(2, 3, 64, 66)
    with torch.no_grad():
        expected, got = reference(x), model(x)
    err = (got - expected).abs().max().item()
    print(f"{tv_name}: max abs error {err:.3g}")
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
