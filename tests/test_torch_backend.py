"""PyTorch backend: module names, padding, train/eval behaviour, weights, counts, emitted source."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from nets import kitchen_sink, one_conv  # noqa: E402
from weights import randomised  # noqa: E402

from scalespec.backends import get_backend  # noqa: E402
from scalespec.backends.torch import runtime  # noqa: E402
from scalespec.conformance.checks import random_weights  # noqa: E402
from scalespec.errors import SpecError  # noqa: E402
from scalespec.files import load_safetensors  # noqa: E402
from scalespec.ir.cost import network_cost  # noqa: E402
from scalespec.ir.network import conv_output_size, padding_amounts  # noqa: E402
from scalespec.ir.resolve import resolve  # noqa: E402
from scalespec.zoo import load_model, zoo_models  # noqa: E402

pytestmark = pytest.mark.torch
B = get_backend("torch")


def zoo(name: str, resolution: int | None = None, profile: str | None = None):
    ref = load_model(name)
    return resolve(ref.spec, variant=ref.variant, resolution=resolution, profile=profile)


@pytest.mark.parametrize("padding", ["symmetric", "same"])
@pytest.mark.parametrize("size", [31, 32, 33, 40, 47])
def test_any_resolution_and_shapes_follow_the_ir(padding, size):
    net = kitchen_sink(padding)
    model = B.build(net).eval()  # batch 1: BN needs its running statistics
    x = torch.randn(1, 3, size, size + 3)
    with torch.no_grad():
        features = model.forward_features(x)
        logits = model(x)
    expected_h = size
    expected_w = size + 3
    for conv in net.convs():
        expected_h = conv_output_size(expected_h, conv.kernel, conv.stride, padding)
        expected_w = conv_output_size(expected_w, conv.kernel, conv.stride, padding)
    assert tuple(features.shape) == (1, net.head.out_channels, expected_h, expected_w)
    assert tuple(logits.shape) == (1, 10)


@given(size=st.integers(1, 80), kernel=st.sampled_from([1, 3, 5, 7, 9]), stride=st.integers(1, 3))
def test_runtime_same_padding_equals_ir(size, kernel, stride):
    assert runtime.same_padding(size, kernel, stride) == padding_amounts(size, kernel, stride, "same")


def _hand_conv(x: np.ndarray, w: np.ndarray, stride: int, pads: tuple[int, int, int, int]) -> np.ndarray:
    """Plain loops: zero-pad (top, bottom, left, right), then cross-correlate with stride."""
    top, bottom, left, right = pads
    padded = np.zeros((x.shape[0] + top + bottom, x.shape[1] + left + right))
    padded[top : top + x.shape[0], left : left + x.shape[1]] = x
    k = w.shape[0]
    rows = (padded.shape[0] - k) // stride + 1
    cols = (padded.shape[1] - k) // stride + 1
    out = np.zeros((rows, cols))
    for i in range(rows):
        for j in range(cols):
            out[i, j] = (padded[i * stride : i * stride + k, j * stride : j * stride + k] * w).sum()
    return out


@pytest.mark.parametrize(
    "padding, pads",
    [
        # TF SAME on 4x4, k3 s2: out 2, total (2-1)*2+3-4 = 1 -> nothing before, 1 after
        ("same", (0, 1, 0, 1)),
        # symmetric: (3-1)//2 = 1 on every side
        ("symmetric", (1, 1, 1, 1)),
    ],
)
def test_one_conv_network_by_hand(padding, pads):
    net = one_conv(padding)
    model = B.build(net).eval()
    x = np.arange(16, dtype=np.float32).reshape(4, 4) - 5.0
    w = np.array([[1, 2, 0], [-1, 3, 1], [0, 2, -2]], dtype=np.float32)
    with torch.no_grad():
        model.stem.conv.weight.copy_(torch.from_numpy(w).view(1, 1, 3, 3))
        out = model.stem.conv(torch.from_numpy(x).view(1, 1, 4, 4))[0, 0].numpy()
    np.testing.assert_allclose(out, _hand_conv(x, w, 2, pads), rtol=1e-6)
    # the same conv through the whole network: BN set to identity, the 1x1 block conv to 1
    B.import_weights(model, random_weights(net, 0))
    with torch.no_grad():
        model.stem.conv.weight.copy_(torch.from_numpy(w).view(1, 1, 3, 3))
        for bn in (model.stem.bn, model.stages[0][0].conv.bn):
            (
                bn.weight.fill_(1.0),
                bn.bias.fill_(0.0),
                bn.running_mean.fill_(0.0),
                bn.running_var.fill_(1.0 - bn.eps),
            )
        model.stages[0][0].conv.conv.weight.fill_(1.0)
        pooled = model(torch.from_numpy(x).view(1, 1, 4, 4))[0, 0].item()
    assert pooled == pytest.approx(_hand_conv(x, w, 2, pads).mean(), rel=1e-5)


@pytest.mark.parametrize("size", [32, 33])
def test_same_and_symmetric_padding_differ_in_numbers_not_shapes(size):
    spec = load_model("efficientnet-b0").spec
    nets = [
        resolve(spec.model_copy(update={"padding": mode}), resolution=32) for mode in ("symmetric", "same")
    ]
    sym, same = randomised("torch", nets[0]), B.build(nets[1])
    B.import_weights(same, B.export_weights(sym))
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        a, b = sym(x), same(x)
    assert a.shape == b.shape
    if size % 2 == 0:
        assert not torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def test_eval_is_deterministic_and_train_is_stochastic():
    net = kitchen_sink()
    model = randomised("torch", net)
    x = np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32)
    e1, e2 = B.forward(model, x), B.forward(model, x)
    np.testing.assert_array_equal(e1, e2)
    torch.manual_seed(1)
    t1 = B.forward(model, x, training=True)
    t2 = B.forward(model, x, training=True)
    assert not np.allclose(t1, t2)
    assert not model.training  # forward restores the mode


def test_drop_path_drops_whole_samples_and_rescales():
    x = torch.ones(2000, 3, 2, 2)
    torch.manual_seed(0)
    out = runtime.drop_path(x, 0.25, training=True)
    per_sample = out.flatten(1)
    assert set(torch.unique(per_sample).tolist()) <= {0.0, float(torch.tensor(1.0 / 0.75))}
    assert torch.all(per_sample.min(1).values == per_sample.max(1).values)
    assert 0.2 < (per_sample[:, 0] == 0).float().mean().item() < 0.3
    assert torch.equal(runtime.drop_path(x, 0.25, training=False), x)


def test_dropout_and_drop_path_only_in_train():
    net = kitchen_sink()
    model = randomised("torch", net)
    model.train()
    model.apply(lambda m: m.eval() if isinstance(m, torch.nn.BatchNorm2d) else None)
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(0)
    with torch.no_grad():
        a, b = model(x), model(x)
        model.eval()
        c, d = model(x), model(x)
    assert not torch.allclose(a, b)
    assert torch.equal(c, d)


def test_bn_uses_batch_statistics_in_train():
    model = randomised("torch", one_conv("same"))
    bn = model.stem.bn
    x = torch.randn(8, 1, 6, 6) * 3 + 2
    before = bn.running_mean.clone()
    model.train()
    with torch.no_grad():
        conv = model.stem.conv(x)
        normed = bn(conv)
    mean = conv.mean((0, 2, 3))
    var = conv.var((0, 2, 3), unbiased=False)
    manual = (conv - mean.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) + bn.eps)
    manual = manual * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(normed, manual, rtol=1e-4, atol=1e-5)
    expected_mean = (1 - bn.momentum) * before + bn.momentum * mean
    torch.testing.assert_close(bn.running_mean, expected_mean)


# ---------------------------------------------------------------- weights


def test_bad_safetensors_file_is_a_spec_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(SpecError, match="weights"):
        load_safetensors(bad)


# ---------------------------------------------------------------- counts


@pytest.mark.parametrize("name", zoo_models())
def test_measured_counts_equal_cost_model_at_full_resolution(name):
    net = zoo(name)
    # the two largest are built on the meta device (shapes only) to spare CI a 2 GB allocation
    with torch.device("meta" if name in ("efficientnet-b8", "efficientnet-l2") else "cpu"):
        model = B.build(net)
    measured = B.measure(model, net.resolution)
    cost = network_cost(net).total
    assert (measured.params, measured.buffers, measured.macs) == (cost.params, cost.buffers, cost.macs)


@pytest.mark.parametrize("name", ["efficientnet-b3", "efficientnetv2-s"])
@pytest.mark.parametrize("resolution", [33, 64])
def test_measured_counts_keras_profile_and_odd_sizes(name, resolution):
    net = zoo(name, resolution, profile="keras")
    measured = B.measure(B.build(net), resolution)
    cost = network_cost(net, resolution=resolution).total
    assert (measured.params, measured.buffers, measured.macs) == (cost.params, cost.buffers, cost.macs)


def test_measured_macs_on_real_tensors_match_meta_count():
    """The meta-device count equals FlopCounterMode over a real forward pass."""
    from torch.utils.flop_counter import FlopCounterMode

    net = kitchen_sink("same")
    model = B.build(net).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, 37, 37))
    assert counter.get_total_flops() // 2 == B.measure(model, 37).macs == network_cost(net, 37).total.macs


def test_reset_classifier_for_fine_tuning():
    """timm's reset_classifier: a fresh N-way head (0: none); weights still import by name."""
    net = zoo("efficientnet-b0", 32)
    model = randomised("torch", net)
    model.reset_classifier(10)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert model.eval()(x).shape == (2, 10)
    weights = B.export_weights(model)
    assert weights["classifier.weight"].shape == (10, 1280)
    B.import_weights(model, weights)  # the record of the 1000-class IR no longer applies
    model.reset_classifier(0)
    with torch.no_grad():
        assert model(x).shape == (2, 1280)
    with pytest.raises(ValueError, match="num_classes"):
        model.reset_classifier(-1)


def test_optimize_for_inference_is_an_eval_copy_in_channels_last_without_gradients():
    """No BatchNorm2d left, every conv weight channels_last, nothing requires grad, eval mode; the
    original keeps its batch norms and its training mode; the copy runs NCHW input as given."""
    import scalespec

    network = zoo("efficientnet-b0", 32)
    model = get_backend("torch").build(network)
    fast = scalespec.optimize_for_inference(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) and model.training
    convs = [m for m in fast.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    assert all(c.bias is not None for c in convs)
    assert not fast.training and not any(p.requires_grad for p in fast.parameters())
    with torch.no_grad():
        assert fast(torch.zeros(1, 3, 32, 32)).shape == (1, 1000)


def test_optimize_for_inference_refuses_a_batch_norm_it_cannot_fold():
    """A module whose batch norm follows no scalespec conv (here a hand-written one) is bad input
    naming the batch norm, not a copy that silently keeps it."""
    import scalespec

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    with pytest.raises(SpecError, match="model: batch norm 1 follows no scalespec conv"):
        scalespec.optimize_for_inference(model)
