"""PyTorch backend under tracing, torch.compile, channels_last, ONNX export + onnxruntime, and CUDA."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nets import kitchen_sink, one_conv, tiny  # noqa: E402
from weights import randomised  # noqa: E402

from scalespec.backends import get_backend  # noqa: E402
from scalespec.ir.resolve import resolve  # noqa: E402
from scalespec.zoo import load_model  # noqa: E402

pytestmark = pytest.mark.torch
B = get_backend("torch")
RTOL, ATOL = 1e-4, 1e-5  # convention 7


def b0(padding: str) -> torch.nn.Module:
    spec = load_model("efficientnet-b0").spec.model_copy(update={"padding": padding})
    return randomised("torch", resolve(spec, resolution=32))


@pytest.mark.parametrize("padding", ["symmetric", "same"])
def test_trace_follows_input_size(padding):
    model = randomised("torch", tiny(padding))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, torch.randn(1, 3, 33, 33), check_trace=False)
    for size in (33, 34, 48):  # odd and even: the same-padding amounts change with parity
        x = torch.randn(2, 3, size, size + 1)
        with torch.no_grad():
            torch.testing.assert_close(traced(x), model(x), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("kernel, stride", [(3, 2), (5, 2), (7, 2)])
def test_trace_of_one_conv_follows_input_size(kernel, stride):
    """With kernel >= stride the same-padding amounts stay size-dependent in a trace (odd and even)."""
    model = randomised("torch", one_conv("same", kernel=kernel, stride=stride))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model.stem, torch.randn(1, 1, 9, 9), check_trace=False)
    for size in (9, 10, 11, 12):
        x = torch.randn(1, 1, size, size)
        with torch.no_grad():
            torch.testing.assert_close(traced(x), model.stem(x), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("padding", ["symmetric", "same"])
def test_channels_last(padding):
    model = b0(padding)
    x = torch.randn(2, 3, 34, 35)
    with torch.no_grad():
        expected = model(x)
        model = model.to(memory_format=torch.channels_last)
        got = model(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=RTOL, atol=ATOL)


def test_torch_compile_smoke():
    net = tiny("same")
    model = randomised("torch", net)
    compiled = torch.compile(model)
    x = torch.randn(2, 3, 34, 34)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("padding", ["symmetric", "same"])
def test_onnx_export_matches_onnxruntime(padding):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = randomised("torch", kitchen_sink(padding))
    x = torch.randn(2, 3, 34, 34)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (x,),
            buffer,
            opset_version=17,
            dynamo=False,
            input_names=["x"],
            output_names=["logits"],
            dynamic_axes={"x": {0: "batch", 2: "height", 3: "width"}},
        )
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    for size in (34, 33):  # the graph computes same padding from the input shape
        x = torch.randn(2, 3, size, size)
        with torch.no_grad():
            expected = model(x).numpy()
        got = session.run(None, {"x": x.numpy()})[0]
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
@pytest.mark.parametrize("padding", ["symmetric", "same"])
def test_cuda_matches_cpu(padding):
    model = b0(padding)
    x = np.random.default_rng(0).standard_normal((2, 3, 34, 34)).astype(np.float32)
    cpu = B.forward(model, x)
    assert B.use_device("cuda") == "cuda"  # and TF32 off, the backend's one device policy
    gpu = B.forward(model, x, device="cuda")
    np.testing.assert_allclose(gpu, cpu, rtol=RTOL, atol=ATOL)
    assert torch.backends.cudnn.allow_tf32 is False
