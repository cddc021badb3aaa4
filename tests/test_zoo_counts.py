"""The zoo's EfficientNet and EfficientNetV2 specs reproduce independently published counts."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from published import PUBLISHED, PUBLISHED_COEFFICIENTS, REFERENCE, TORCHVISION_BN

from scalespec.ir.cost import network_cost
from scalespec.ir.network import Network
from scalespec.ir.resolve import resolve
from scalespec.ir.weights import tensor_specs
from scalespec.zoo import load_family

TORCHVISION_V2 = Path(__file__).parent / "data" / "torchvision_efficientnet_v2.json"
DERIVE_SCRIPT = Path(__file__).parent / "tools" / "derive_torchvision_counts.py"

# keras.applications.EfficientNetB0..B7 start with an input Normalization layer whose
# non-trainable weights are mean (3) + variance (3) + count (1) = 7 constants. scalespec's
# network has no such layer, so Keras' count_params() is our params + BN buffers + 7.
KERAS_NORMALIZATION_CONSTANTS = 3 + 3 + 1

# EfficientNetV2 counts derived from torchvision 0.29.1 (torch 2.14.1, in the parity venv .venv-tv of docs/performance.md) by
# tests/tools/derive_torchvision_counts.py: torchvision.models.efficientnet_v2_{s,m,l}(weights=None),
# params = sum(p.numel() for p in model.parameters()), MACs = conv + linear multiply-accumulates
# (bias excluded) of one forward pass at 384/480/480 px, counted by forward hooks and checked
# equal to torch.utils.flop_counter.FlopCounterMode's total / 2. They agree with torchvision's
# documentation: num_params 21458488 / 54139356 / 118515272 and GFLOPS 8.37 / 24.58 / 56.08.
TORCHVISION_V2_COUNTS = {
    "s": {"crop": 384, "params": 21_458_488, "macs": 8_365_617_152},
    "m": {"crop": 480, "params": 54_139_356, "macs": 24_582_460_384},
    "l": {"crop": 480, "params": 118_515_272, "macs": 56_079_699_008},
}
TORCHVISION_V2_DOCUMENTED_GFLOPS = {"s": 8.37, "m": 24.58, "l": 56.08}


def test_published_table_equals_shared_reference_file() -> None:
    """The literals above are exactly the shared reference file's figures."""
    if not REFERENCE.exists():
        pytest.skip(f"{REFERENCE} not available")
    reference = json.loads(REFERENCE.read_text())["models"]
    assert sorted(reference) == sorted(PUBLISHED)
    for variant, row in reference.items():
        assert {key: row[key] for key in PUBLISHED[variant]} == PUBLISHED[variant]
        coefficients = (row["width"], row["depth"], row["paper_resolution"], row["dropout"])
        assert coefficients == PUBLISHED_COEFFICIENTS[variant]


def _conv_shapes(network: Network) -> list[list[int]]:
    """Every 4-d canonical weight (convs and SE 1x1 convs) in execution order."""
    return [list(t.shape) for t in tensor_specs(network).values() if len(t.shape) == 4]


B_VARIANTS = [f"b{i}" for i in range(8)]


@pytest.mark.parametrize("variant", B_VARIANTS)
def test_efficientnet_matches_published_params_and_macs(variant: str) -> None:
    """Default profile equals torchvision's published num_params and GFLOPS (MACs) at its crop."""
    published = PUBLISHED[variant]
    network = resolve(load_family("efficientnet"), variant=variant, resolution=published["crop"])
    total = network_cost(network).total
    assert total.params == published["params"]
    assert round(total.macs / 1e9, 3) == published["macs_g"]


@pytest.mark.parametrize("variant", B_VARIANTS)
def test_efficientnet_keras_profile_matches_keras_count_params(variant: str) -> None:
    """Keras profile: params + BN buffers + the 7 Normalization constants = Keras count_params()."""
    published = PUBLISHED[variant]
    total = network_cost(resolve(load_family("efficientnet"), variant=variant, profile="keras")).total
    assert total.params + total.buffers + KERAS_NORMALIZATION_CONSTANTS == published["keras_count_params"]


@pytest.mark.parametrize("variant", B_VARIANTS)
def test_efficientnet_variant_table_matches_published_coefficients(variant: str) -> None:
    """The zoo's width/depth/resolution/dropout per variant are the TF reference coefficients."""
    zoo = load_family("efficientnet").scaling.variants[variant]
    assert (zoo.width, zoo.depth, zoo.resolution, zoo.dropout) == PUBLISHED_COEFFICIENTS[variant]


@pytest.mark.parametrize("variant", B_VARIANTS)
def test_efficientnet_bn_constants_match_torchvision(variant: str) -> None:
    """torchvision's B5-B7 use TF's BN constants: same counts, different outputs if missed."""
    network = resolve(load_family("efficientnet"), variant=variant)
    assert (network.norm_eps, network.norm_momentum) == TORCHVISION_BN[variant]
    keras = resolve(load_family("efficientnet"), variant=variant, profile="keras")
    assert (keras.norm_eps, keras.norm_momentum) == (1e-3, 0.01)  # keras.applications: 1e-3, 0.99 its way


@pytest.mark.parametrize("size", ["s", "m", "l"])
def test_efficientnetv2_matches_torchvision_counts(size: str) -> None:
    """Default profile equals torchvision efficientnet_v2_{size}: exact params and MACs at its crop."""
    expected = TORCHVISION_V2_COUNTS[size]
    network = resolve(load_family("efficientnetv2"), variant=size)
    assert network.resolution == expected["crop"]
    total = network_cost(network).total
    assert total.params == expected["params"]
    assert total.macs == expected["macs"]
    assert round(total.macs / 1e9, 2) == TORCHVISION_V2_DOCUMENTED_GFLOPS[size]


@pytest.mark.parametrize("size", ["s", "m", "l"])
def test_efficientnetv2_conv_structure_matches_torchvision(size: str) -> None:
    """Conv weight shapes, in order, equal torchvision's Conv2d modules (derived by the tool script)."""
    derived = json.loads(TORCHVISION_V2.read_text())
    assert derived["torchvision"].startswith("0.29.1")
    model = derived["models"][size]
    expected = TORCHVISION_V2_COUNTS[size]
    assert (model["params"], model["macs"], model["crop"]) == (
        expected["params"],
        expected["macs"],
        expected["crop"],
    )
    network = resolve(load_family("efficientnetv2"), variant=size)
    assert _conv_shapes(network) == model["conv_shapes"]


def _derive_module():
    """Import tests/tools/derive_torchvision_counts.py by path (it is not a package module)."""
    spec = importlib.util.spec_from_file_location("derive_torchvision_counts", DERIVE_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_efficientnetv2_live_torchvision_rederivation() -> None:
    """Where torchvision is importable, re-derive V2-S/M/L counts and conv shapes live."""
    pytest.importorskip("torchvision")
    derived = _derive_module().derive()
    for size, model in derived["models"].items():
        expected = TORCHVISION_V2_COUNTS[size]
        assert (model["params"], model["macs"]) == (expected["params"], expected["macs"])
        network = resolve(load_family("efficientnetv2"), variant=size)
        assert _conv_shapes(network) == model["conv_shapes"]
