"""Re-derive EfficientNetV2-S/M/L reference counts from torchvision's own models.

Run it where torchvision is installed (the parity venv .venv-tv of docs/performance.md):

    PYTHONPATH=. .venv-tv/bin/python tests/tools/derive_torchvision_counts.py [--write]

For each of efficientnet_v2_s/m/l(weights=None) it prints the trainable parameter count,
the conv + linear multiply-accumulates at the eval crop (384/480/480; bias excluded),
counted twice -- by forward hooks and by torch.utils.flop_counter.FlopCounterMode / 2 --
and the sequence of conv weight shapes (out, in/groups, kh, kw) in module order.
``--write`` stores the result in tests/data/torchvision_efficientnet_v2.json, which
tests/test_zoo_counts.py compares scalespec's IR against. scalespec never imports this.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CROPS = {"s": 384, "m": 480, "l": 480}
OUTPUT = Path(__file__).resolve().parent.parent / "data" / "torchvision_efficientnet_v2.json"


def hook_macs(model, resolution: int) -> int:
    """Conv + linear MACs (bias excluded) of one forward pass, counted by forward hooks."""
    import torch

    total = 0

    def on_forward(module, inputs, output) -> None:
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total += output.numel() * per_output
        else:
            total += output.numel() * module.in_features

    handles = [
        m.register_forward_hook(on_forward)
        for m in model.modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
    ]
    with torch.no_grad():
        model(torch.zeros(1, 3, resolution, resolution))
    for handle in handles:
        handle.remove()
    return total


def flop_counter_macs(model, resolution: int) -> int:
    """Conv + matmul FLOPs / 2 as torch's FlopCounterMode counts them (a second, independent count)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, 3, resolution, resolution))
    return counter.get_total_flops() // 2


def conv_shapes(model) -> list[list[int]]:
    """Every Conv2d weight shape (out, in/groups, kh, kw) in module registration order."""
    import torch

    return [list(m.weight.shape) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]


def derive() -> dict:
    """Build each torchvision model untrained and count it."""
    import torch
    import torchvision

    result = {"torchvision": torchvision.__version__, "torch": torch.__version__, "models": {}}
    for size, crop in CROPS.items():
        model = getattr(torchvision.models, f"efficientnet_v2_{size}")(weights=None).eval()
        macs = hook_macs(model, crop)
        check = flop_counter_macs(model, crop)
        if macs != check:
            raise SystemExit(f"v2-{size}: hook MACs {macs} != FlopCounterMode MACs {check}")
        result["models"][size] = {
            "crop": crop,
            "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "macs": macs,
            "conv_shapes": conv_shapes(model),
        }
    return result


def main(argv: list[str] | None = None) -> int:
    """Print the derived counts; with --write, also store them for the tests."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {OUTPUT}")
    args = parser.parse_args(argv)
    result = derive()
    for size, model in result["models"].items():
        n = len(model["conv_shapes"])
        print(f"v2-{size}: params={model['params']} macs={model['macs']} at {model['crop']}px, {n} convs")
    print(f"torchvision {result['torchvision']}, torch {result['torch']}")
    if args.write:
        OUTPUT.parent.mkdir(parents=True, exist_ok=True)
        models = result.pop("models")
        lines = [json.dumps(result)[:-1] + ', "models": {']
        for i, (size, model) in enumerate(models.items()):
            comma = "," if i < len(models) - 1 else ""
            lines.append(f"  {json.dumps(size)}: {json.dumps(model)}{comma}")
        lines.append("}}")
        OUTPUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
