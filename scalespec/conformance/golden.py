"""Golden bundles: one machine's weights, input and outputs, checked later on another machine.

A bundle is a folder: ``weights.safetensors`` (canonical weights), ``input.npy``,
``outputs.safetensors`` (one eval output per backend, keyed by backend name),
``training.safetensors`` (the training batch and labels, and each backend's eval taps and
training step: training taps, loss, every gradient, the input's gradient, and the BN
statistics after the step, keyed ``torch/grad/stem.conv.weight``) and ``manifest.json`` (network identification with the spec
text, counts, versions, devices). That is how a GPU machine with PyTorch only is held to
TensorFlow's CPU outputs, in eval and in training.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..backends.base import TrainStep
from ..errors import SpecError
from ..files import atomic_write, load_safetensors, save_safetensors
from ..ir.cost import network_cost
from ..ir.network import Network
from ..ir.resolve import resolve
from ..ir.weights import tensor_specs
from ..spec.io import dump_spec, parse_text
from ..spec.network import NetworkSpec
from . import checks as C
from . import taps as T
from .report import Report
from .runner import Progress, _quiet, check_backend, load_backends, place, sensitivity_probe, versions

FORMAT = "scalespec-golden/2"  # /2 added training.safetensors
FILES = ("manifest.json", "weights.safetensors", "input.npy", "outputs.safetensors", "training.safetensors")


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()


def save_bundle(report: Report, spec: NetworkSpec, folder: str | Path, *, force: bool = False) -> Path:
    """Write ``report``'s weights, input, outputs and manifest into ``folder`` (created if absent)."""
    if report.weights is None or report.input is None or not report.outputs:
        raise SpecError([("save_golden", "no weights or outputs to save: the reference backend failed")])
    reference = next(iter(report.outputs))
    if reference not in report.training or reference not in report.taps:
        raise SpecError([("save_golden", f"no training step or taps to save: {reference} failed them")])
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise SpecError([("save_golden", f"{folder} exists and is not a folder")])
    folder.mkdir(parents=True, exist_ok=True)
    cost = network_cost(_network(report, spec), report.identity["resolution"]).total
    manifest = {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "network": report.identity,
        "spec": dump_spec(spec),
        "reference": reference,
        "outputs": {name: list(out.shape) for name, out in report.outputs.items()},
        "expected": {"params": cost.params, "buffers": cost.buffers, "macs": cost.macs},
        "measured": report.measured,
        "tolerance": {"rtol": C.RTOL, "atol": C.ATOL},
        "devices": report.devices,
        "versions": report.versions,
        "passed": report.ok,
    }
    save_safetensors(report.weights, folder / "weights.safetensors", force=force)
    atomic_write(folder / "input.npy", _npy_bytes(report.input), force=force)
    save_safetensors(report.outputs, folder / "outputs.safetensors", force=force)
    training = _training_arrays(report)
    save_safetensors(training, folder / "training.safetensors", force=force)
    atomic_write(folder / "manifest.json", json.dumps(manifest, indent=2, default=str) + "\n", force=force)
    return folder


def _training_arrays(report: Report) -> dict[str, np.ndarray]:
    """Every backend's eval taps and training step as flat arrays, prefixed by backend name."""
    arrays: dict[str, np.ndarray] = {"train_input": report.train_input, "labels": report.labels}
    for name, step in report.training.items():
        arrays |= {f"{name}/eval/{tap}": value for tap, value in report.taps.get(name, {}).items()}
        arrays |= {f"{name}/train/{tap}": value for tap, value in step.taps.items()}
        arrays |= {f"{name}/grad/{tensor}": value for tensor, value in step.grads.items()}
        arrays |= {f"{name}/after/{tensor}": value for tensor, value in step.after.items()}
        arrays |= {f"{name}/input_grad": step.input_grad, f"{name}/loss": np.array([step.loss])}
    return arrays  # labels are small integers, exact in float32


def _read_training(path: Path, network: Network) -> tuple[dict[str, Golden], np.ndarray, np.ndarray]:
    """Each recorded backend's eval taps and training step, and the training batch and labels;
    a bundle with no backend's results, or one missing any entry, is exit 2 naming it."""
    arrays = load_safetensors(path, field="golden")
    recorded = sorted({key.split("/", 1)[0] for key in arrays if "/" in key})
    taps = [tap.name for tap in network.taps()]
    specs = tensor_specs(network)
    wanted = [f"eval/{t}" for t in taps] + [f"train/{t}" for t in taps]
    wanted += [f"grad/{n}" for n, spec in specs.items() if spec.trainable]
    wanted += [f"after/{n}" for n, spec in specs.items() if not spec.trainable]  # BN statistics
    wanted += ["input_grad", "loss"]
    missing = [key for key in ("train_input", "labels") if key not in arrays]
    missing += [f"{name}/{key}" for name in recorded for key in wanted if f"{name}/{key}" not in arrays]
    if not recorded:
        missing.append("every backend's results")
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise SpecError([("golden", f"{path}: missing {', '.join(missing[:3])}{more}")])

    def part(prefix: str) -> dict[str, np.ndarray]:
        return {key[len(prefix) :]: value for key, value in arrays.items() if key.startswith(prefix)}

    golden = {
        name: Golden(
            taps=part(f"{name}/eval/"),
            step=TrainStep(
                taps=part(f"{name}/train/"),
                loss=float(arrays[f"{name}/loss"][0]),
                grads=part(f"{name}/grad/"),
                input_grad=arrays[f"{name}/input_grad"],
                after=part(f"{name}/after/"),
            ),
        )
        for name in recorded
    }
    return golden, arrays["train_input"], arrays["labels"].astype(np.int64)


@dataclass
class Golden:
    """One backend's recorded eval taps and training step."""

    taps: dict[str, np.ndarray]
    step: TrainStep


def _network(report: Report, spec: NetworkSpec) -> Network:
    return resolve_identity(spec, report.identity)


def resolve_identity(spec: NetworkSpec, ident: dict) -> Network:
    """The network a recorded identity names: by variant, by phi, or by width and depth."""
    by_multipliers = ident.get("variant") is None and ident.get("phi") is None
    return resolve(
        spec,
        variant=ident.get("variant"),
        phi=ident.get("phi"),
        width=ident.get("width") if by_multipliers else None,
        depth=ident.get("depth") if by_multipliers else None,
        resolution=ident["resolution"],
        profile=ident.get("profile"),
    )


class Bundle:
    """A loaded golden bundle: spec, network, weights, input, reference outputs, manifest."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        missing = [name for name in FILES if not (folder / name).is_file()]
        if missing:
            raise SpecError([("golden", f"{folder} is not a golden bundle (missing {', '.join(missing)})")])
        try:
            self.manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SpecError([("golden", f"cannot read {folder / 'manifest.json'}: {exc}")]) from None
        manifest_file = folder / "manifest.json"
        self.manifest = _checked_manifest(self.manifest, manifest_file)
        self.spec = parse_text(self.manifest["spec"], f"{manifest_file}: spec")
        self.identity = ident = self.manifest["network"]
        self.network = resolve_identity(self.spec, ident)
        self.input = _checked_input(folder / "input.npy", self.network)
        self.weights = load_safetensors(folder / "weights.safetensors", field="golden")
        self.outputs = _checked_outputs(folder / "outputs.safetensors", self.network, len(self.input))
        self.golden, self.train_input, self.labels = _read_training(
            folder / "training.safetensors", self.network
        )


# manifest field -> the JSON type it must have (a bundle from another tool or a hand edit)
MANIFEST_FIELDS = {"format": str, "spec": str, "network": dict, "expected": dict}
NETWORK_FIELDS = {"resolution": int}
EXPECTED_FIELDS = {"params": int, "buffers": int, "macs": int}


def _checked_manifest(manifest: object, path: Path) -> dict:
    """The manifest, or a SpecError naming the file and the first field that is missing or wrong."""
    if not isinstance(manifest, dict):
        raise SpecError(
            [("golden", f"{path}: the manifest must be a JSON object, got {type(manifest).__name__}")]
        )
    if manifest.get("format") != FORMAT:
        raise SpecError([("golden", f"{path}: format: {manifest.get('format')!r} is not {FORMAT}")])

    def part(name: str) -> dict:
        return manifest[name] if isinstance(manifest.get(name), dict) else {}

    checked = (
        (MANIFEST_FIELDS, "", manifest),
        (NETWORK_FIELDS, "network.", part("network")),
        (EXPECTED_FIELDS, "expected.", part("expected")),
    )
    for fields, where, data in checked:
        for name, kind in fields.items():
            if not isinstance(data.get(name), kind) or isinstance(data.get(name), bool):
                got = type(data.get(name)).__name__ if name in data else "missing"
                raise SpecError([("golden", f"{path}: {where}{name}: expected {kind.__name__}, got {got}")])
    return manifest


def _checked_outputs(path: Path, network: Network, batch: int) -> dict[str, np.ndarray]:
    """At least one reference output, each of the shape the network gives for the input batch:
    a bundle with no outputs would check nothing and pass."""
    outputs = load_safetensors(path, field="golden")
    want = C.expected_output_shape(network, batch)
    if not outputs:
        raise SpecError([("golden", f"{path}: holds no reference outputs, so it would prove nothing")])
    for name, value in outputs.items():
        if tuple(value.shape) != want:
            raise SpecError(
                [("golden", f"{path}: output {name!r} has shape {tuple(value.shape)}, expected {want}")]
            )
    return outputs


def identity_check(bundle: Bundle, network: Network, named: str) -> C.Check:
    """Whether the network a command line names is the bundle's network; the message says how not."""
    ours, theirs = network.identity(), bundle.network.identity()
    differs = [
        f"{key} {theirs[key]!r} in the bundle, {ours[key]!r} here" for key in ours if ours[key] != theirs[key]
    ]
    if network.to_table() != bundle.network.to_table():
        differs.append("the architecture tables differ")
    message = f"{named} is not the bundle's network: " + "; ".join(differs) if differs else ""
    return C.Check("bundle", "identity", not differs, {"named": named, "bundle": theirs.get("name")}, message)


def _checked_input(path: Path, network) -> np.ndarray:
    """The bundle's input batch: an NCHW float array with the network's input channels."""
    try:
        value = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SpecError([("golden", f"cannot read {path}: {exc}")]) from None
    if not isinstance(value, np.ndarray) or value.ndim != 4 or value.shape[1] != network.input_channels:
        shape = getattr(value, "shape", type(value).__name__)
        raise SpecError(
            [
                (
                    "golden",
                    f"{path}: expected an NCHW batch with {network.input_channels} channels, got {shape}",
                )
            ]
        )
    return value


def check_bundle(
    folder: str | Path,
    backend_names,
    *,
    device: str = "cpu",
    progress: Progress = _quiet,
    expect: tuple[Network, str] | None = None,
) -> Report:
    """Check the backends available here against a bundle: weights in, outputs and counts compared.

    ``expect`` (a network and how the user named it) must be the bundle's network, or the
    ``bundle`` check fails saying how they differ.
    """
    started = time.perf_counter()
    bundle = Bundle(folder)
    backends = load_backends(backend_names)
    devices = place(backends, device)
    network = bundle.network
    report = Report(
        dict(bundle.identity),
        devices=devices,
        versions=versions(backends, devices),
        weights=bundle.weights,
        input=bundle.input,
        train_input=bundle.train_input,
        labels=bundle.labels,
    )
    layout = T.Layout(network, len(bundle.train_input))
    expected = network_cost(network, network.resolution).total
    report.checks.append(_bundle_check(bundle, expected))
    if expect is not None:
        report.checks.append(identity_check(bundle, *expect))
    sensitivity = sensitivity_probe(backends, network, report, devices)
    for index, backend in enumerate(backends):
        progress(
            f"[{index + 1}/{len(backends)}] building and running {backend.name} on {devices[backend.name]}..."
        )
        check_backend(backend, network, report, device=devices[backend.name], expected=expected)
        if backend.name in report.outputs:
            for ref, out in bundle.outputs.items():
                report.checks.append(
                    C.compare_outputs(f"{backend.name} vs golden {ref}", report.outputs[backend.name], out)
                )
        for ref, golden in bundle.golden.items():
            subject = f"{backend.name} vs golden {ref}"
            if backend.name in report.taps:
                ours = report.taps[backend.name]
                report.checks.append(
                    T.compare_taps("taps", subject, ours, golden.taps, layout, training=False)
                )
            if backend.name in report.training:
                report.checks += T.compare_training(
                    subject, report.training[backend.name], golden.step, layout, sensitivity
                )
    report.seconds = time.perf_counter() - started
    return report


def _bundle_check(bundle: Bundle, expected) -> C.Check:
    """The bundle's recorded cost-model counts equal today's (the network did not change meaning)."""
    recorded = bundle.manifest.get("expected", {})
    now = {"params": expected.params, "buffers": expected.buffers, "macs": expected.macs}
    ok = all(recorded.get(k) == v for k, v in now.items())
    figures = {f"{k}": v for k, v in now.items()} | {"recorded_macs": recorded.get("macs")}
    return C.Check(
        "bundle",
        "cost model",
        ok,
        figures,
        "" if ok else f"bundle recorded {recorded}, the cost model now gives {now}",
    )
