"""IR -> standalone PyTorch source: the shared file layout of backends/source.py, torch's runtime."""

from __future__ import annotations

from pathlib import Path

from ..source import Footer, source_emitter

RUNTIME_PATH = Path(__file__).with_name("runtime.py")

BUILD = '''
def build_model(num_classes: int | None = None) -> ScaledNet:
    """The network, in training mode like every nn.Module (``.eval()`` for inference);
    ``num_classes`` resizes the classifier (0: none, pooled features out). When ARCHITECTURE
    names ``features``, a FeaturePyramid returning those maps."""
    return build_network(read_architecture(ARCHITECTURE, num_classes))
'''

BUILD_FOR_INFERENCE = '''
def build_model(num_classes: int | None = None) -> ScaledNet:
    """The network for inference only: eval mode, channels_last, no gradients, and every batch
    norm folded into its conv. Load the ``state_dict`` of the model that
    ``scalespec.optimize_for_inference`` returns (convs with folded kernels and biases);
    ``num_classes`` resizes the classifier (0: none, pooled features out)."""
    return build_network(read_architecture(ARCHITECTURE, num_classes), folded=True)
'''

MAIN = """
if __name__ == "__main__":  # run once on a blank image at the nominal size
    model = build_model().eval()
    size = ARCHITECTURE["resolution"]
    with torch.no_grad():
        out = model(torch.zeros(1, ARCHITECTURE["stem"]["in_channels"], size, size))
    params = sum(p.numel() for p in model.parameters())
    shapes = [tuple(o.shape) for o in out] if isinstance(out, list) else tuple(out.shape)
    print(f"{ARCHITECTURE['name']}: output {shapes}, {params} parameters")
"""


emit = source_emitter("PyTorch", RUNTIME_PATH, Footer(BUILD, BUILD_FOR_INFERENCE, MAIN))
