"""The memory model (ir/memory.py): a tiny network counted by hand, then PyTorch's own figures.

Saved activations are compared exactly with the tensors autograd saves, and the inference peak
exactly with the tensors PyTorch keeps alive; the CPU allocator's peak may exceed the latter
only by oneDNN's scratch (a reordered copy of one conv's weights and a scratchpad). A training
step's measured peak is within a few percent of the model's total.
"""

from __future__ import annotations

import json
from dataclasses import replace
from math import prod
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from test_cost import _mbconv_net

from scalespec.cli import main
from scalespec.conformance.checks import ATOL, RTOL
from scalespec.conformance.strategies import cases
from scalespec.errors import SpecError
from scalespec.ir.memory import inference_memory, training_memory
from scalespec.ir.network import SqueezeExcite
from scalespec.ir.resolve import resolve
from scalespec.ir.weights import tensor_specs
from scalespec.spec.io import parse_spec
from scalespec.zoo import resolve_model

torch = pytest.importorskip("torch")

from scalespec import optimize_for_inference  # noqa: E402
from scalespec.backends import get_backend  # noqa: E402
from scalespec.backends.torch.measure import (  # noqa: E402
    allocated_peak_bytes,
    live_tensor_peak_bytes,
    saved_activation_bytes,
    training_peak_bytes,
)

# oneDNN's scratch during a conv, which the model leaves out: the conv's weights reordered into
# channel blocks (up to twice their size when channels are padded to a block), and a scratchpad
# (12,336 B for b0's convs here; tiny one-channel stems have needed up to 150 KB)
SCRATCH = 128 * 1024


def test_tiny_network_inference_peak_by_hand():
    # 8 px input, batch 1: input 3*8*8 = 192; stem out 8*4*4 = 128; expand and dw out 16*4*4 = 256;
    # SE: pooled 16, squeezed 2, gate 16; project 128; head 256; pool 16. The folded model
    # rescales the dw output and adds the shortcut in place (no new tensor), so the largest
    # live set is at the dw conv: input 192 + shortcut 128 + expand out 256 (its input) + dw
    # out 256 = 832 elements (the SE rescale: 192 + 128 + 256 + gate 16 = 592).
    memory = inference_memory(_mbconv_net())
    assert memory.peak_activations == 832 * 4
    assert memory.peak_at == "stages.0.0.dw.conv"
    # folded weights: stem 216+8, expand 128+16, dw 144+16, SE 34+48, project 128+8, head 128+16,
    # classifier 160+10 = 1060
    assert memory.weights == 1060 * 4


def test_squeeze_excite_opening_a_block_keeps_its_input_by_hand():
    # stem 3->16 at stride 1, then a residual fused_mbconv of expand 1: its SE comes first, on
    # the block's input, which the add reads again, so the rescale makes a new tensor. 8 px,
    # batch 1: input 192; stem out 16*8*8 = 1024; rescaled 1024; conv 1024. Peak at the conv:
    # input 192 + shortcut 1024 + rescaled 1024 + conv out 1024 = 3264 elements (rescaling the
    # shortcut in place would give 2240, and the wrong output).
    spec = {
        "name": "se-first",
        "input": {"channels": 3, "resolution": 8},
        "stem": {"out": 16, "kernel": 3, "stride": 1},
        "stages": [{"block": {"type": "fused_mbconv", "expand": 1, "kernel": 3, "out": 16, "se": {}}}],
        "head": {"out": 16},
        "classifier": {"num_classes": 10},
    }
    net = resolve(parse_spec(spec))
    memory = inference_memory(net)
    assert (memory.peak_activations, memory.peak_at) == (3264 * 4, "stages.0.0.conv.conv")
    _check_against_torch(net, batch=1, resolution=8)


def test_tiny_network_training_memory_by_hand():
    # Saved for backward (elements): input 192; per conv+BN+SiLU the conv output, BN statistics
    # (2C), BN output (SiLU's input) and the SiLU output its consumer saves:
    #   stem 128+16+128+128, expand 256+32+256+256, dw 256+32+256 (+ its output 256, saved by
    #   the SE rescale), SE pooled 16, squeezed 2, SiLU out 2, gate 16, rescaled 256,
    #   project 128+16 (its BN output is only added), residual sum 128 (saved by head),
    #   head 256+32+256, dropout mask 16 and dropped features 16.
    saved = 192 + 400 + 800 + 800 + 292 + 144 + 128 + 544 + 32
    memory = training_memory(_mbconv_net(), optimizer="adam")
    assert memory.saved_activations == saved * 4
    params = 1252 - 2 * (8 + 16 + 16 + 8 + 16)  # test_cost's params+buffers, less running stats
    assert memory.gradients == params * 4
    assert memory.optimizer_state == 2 * params * 4
    assert memory.weights == 1252 * 4


def test_memory_scales_with_batch_and_dtype():
    net = _mbconv_net()
    one, four = inference_memory(net), inference_memory(net, batch=4, dtype="float16")
    assert four.peak_activations == 4 * one.peak_activations // 2
    assert four.weights == one.weights // 2


@pytest.mark.parametrize(
    "how, field",
    [({"batch": 0}, "batch"), ({"dtype": "int8"}, "dtype"), ({"optimizer": "lbfgs"}, "optimizer")],
)
def test_bad_memory_arguments_name_the_field(how, field):
    with pytest.raises(SpecError) as error:
        training_memory(_mbconv_net(), **how)
    assert error.value.problems[0][0] == field


def _largest_conv_weight_bytes(net) -> int:
    return 4 * max(prod(t.shape) for t in tensor_specs(net).values() if len(t.shape) == 4)


def _check_against_torch(net, batch: int, resolution: int):
    """Saved activations and live tensors as PyTorch has them, equal to the model's."""
    model = get_backend("torch").build(net)
    x = torch.randn(batch, net.input_channels, resolution, resolution)
    saved = saved_activation_bytes(model.train(), x)
    assert saved == training_memory(net, resolution=resolution, batch=batch).saved_activations
    fast = optimize_for_inference(model)
    x = x.contiguous(memory_format=torch.channels_last)
    modelled = inference_memory(net, resolution=resolution, batch=batch).peak_activations
    assert live_tensor_peak_bytes(fast, x) == modelled
    return fast, x, modelled


@pytest.mark.torch
@settings(max_examples=30)
@given(case=cases())
def test_random_specs_memory_matches_torch(case):
    # PyTorch copies the padded input of a SAME conv, scratch the model leaves out: symmetric here
    net = replace(case.network(), padding="symmetric")
    _check_against_torch(net, batch=2, resolution=net.resolution)


@pytest.mark.torch
def test_every_block_kind_memory_matches_torch():
    """Every block kind, residual or not; one squeeze-excite opens its block (fused_mbconv,
    expand 1), so its input is the shortcut: the folded model must not rescale it in place,
    and the model must keep it live. The folded model's output is the model's."""
    text = (Path(__file__).parent / "data" / "tiny_all_blocks.yaml").read_text()
    net = replace(resolve(parse_spec(yaml.safe_load(text))), padding="symmetric")
    assert any(isinstance(block.ops[0], SqueezeExcite) and block.residual for block in net.blocks)
    _check_against_torch(net, batch=2, resolution=29)
    model = get_backend("torch").build(net).eval()
    x = torch.randn(2, net.input_channels, 29, 29)
    with torch.no_grad():
        torch.testing.assert_close(optimize_for_inference(model)(x), model(x), rtol=RTOL, atol=ATOL)


@pytest.mark.torch
def test_efficientnet_b0_memory_matches_torch_at_224():
    _, net = resolve_model("efficientnet-b0")
    fast, x, modelled = _check_against_torch(net, batch=2, resolution=224)
    allocated = allocated_peak_bytes(fast, x)
    assert modelled <= allocated <= modelled + 2 * _largest_conv_weight_bytes(net) + SCRATCH


@pytest.mark.torch
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_step_peak_is_near_the_model_total(optimizer):
    _, net = resolve_model("efficientnet-b0")
    model = get_backend("torch").build(net)
    x = torch.randn(4, 3, 160, 160)
    make = {
        "sgd": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
        "adam": lambda p: torch.optim.Adam(p, lr=1e-3),
    }[optimizer]
    measured = training_peak_bytes(model, x, make(model.parameters()))
    modelled = training_memory(net, resolution=160, batch=4, optimizer=optimizer).total
    assert abs(measured / modelled - 1) < 0.03, (measured, modelled)


def test_show_json_reports_memory(capsys):
    assert main(["show", "efficientnet-b0", "--batch", "8", "--json"]) == 0
    memory = json.loads(capsys.readouterr().out)["memory"]
    assert memory["inference"]["batch"] == 8
    assert (
        memory["training"]["adam"]["optimizer_state_bytes"] == 2 * memory["training"]["sgd"]["gradient_bytes"]
    )
    # torchvision's b0 has 5,288,548 parameters: gradients in float32 are four bytes each
    assert memory["training"]["sgd"]["gradient_bytes"] == 4 * 5_288_548


def test_show_refuses_a_bad_batch(capsys):
    assert main(["show", "efficientnet-b0", "--batch", "0"]) == 2
    assert "batch" in capsys.readouterr().err
