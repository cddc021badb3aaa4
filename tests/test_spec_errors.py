"""Malformed specs and requests raise SpecError naming the offending field (and file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scalespec.errors import SpecError
from scalespec.ir.resolve import Budget, resolve
from scalespec.spec.io import MAX_SPEC_BYTES, load_spec, parse_spec, parse_text
from scalespec.zoo import load_family, load_model


def _spec(block: dict | None = None, **fields) -> dict:
    """A minimal valid spec document with one stage of ``block``, plus top-level ``fields``."""
    block = {"type": "mbconv", "out": 16} if block is None else block
    return {"name": "tiny", "stages": [{"block": block}], **fields}


def _locations(exc: pytest.ExceptionInfo[SpecError]) -> list[str]:
    return [location for location, _ in exc.value.problems]


def _rejects(data: object) -> pytest.ExceptionInfo[SpecError]:
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    return info


def test_a_valid_minimal_spec_is_accepted() -> None:
    """The documents below differ from this accepted one in one field each."""
    assert parse_spec(_spec()).stages[0].block.out == 16


def test_unknown_block_type_names_the_block_and_the_known_types() -> None:
    info = _rejects(_spec({"type": "mbconvv", "out": 16}))
    assert _locations(info) == ["stages.0.block"]
    assert "mbconvv" in str(info.value) and "fused_mbconv" in str(info.value)


def test_missing_block_type_names_the_discriminator() -> None:
    info = _rejects(_spec({"out": 16}))
    assert _locations(info) == ["stages.0.block"]
    assert "type" in str(info.value)


@pytest.mark.parametrize("kernel", [2, 4, 0])
def test_even_or_zero_kernel_names_kernel(kernel: int) -> None:
    info = _rejects(_spec({"type": "mbconv", "out": 16, "kernel": kernel}))
    assert _locations(info) == ["stages.0.block.kernel"]


def test_even_stem_kernel_names_stem_kernel() -> None:
    info = _rejects(_spec(stem={"kernel": 4}))
    assert _locations(info) == ["stem.kernel"]
    assert "odd" in str(info.value)


def test_stride_three_names_stride() -> None:
    info = _rejects(_spec({"type": "conv", "out": 16, "stride": 3}))
    assert _locations(info) == ["stages.0.block.stride"]


@pytest.mark.parametrize("channels", [0, -1, -64])
@pytest.mark.parametrize(
    ("document", "location"),
    [
        (lambda c: _spec({"type": "mbconv", "out": c}), "stages.0.block.out"),
        (lambda c: _spec({"type": "ds", "out": c}), "stages.0.block.out"),
        (lambda c: _spec(stem={"out": c}), "stem.out"),
        (lambda c: _spec(head={"out": c}), "head.out"),
        (lambda c: _spec(input={"channels": c}), "input.channels"),
    ],
)
def test_zero_or_negative_channels_name_the_field(channels: int, document, location: str) -> None:
    info = _rejects(document(channels))
    assert _locations(info) == [location]


def test_fractional_channels_name_the_field() -> None:
    info = _rejects(_spec({"type": "conv", "out": 8.5}))
    assert _locations(info) == ["stages.0.block.out"]


def test_missing_stages_names_stages() -> None:
    info = _rejects({"name": "tiny"})
    assert _locations(info) == ["stages"]
    assert "required" in str(info.value).lower()


def test_missing_block_out_names_out() -> None:
    info = _rejects(_spec({"type": "mbconv"}))
    assert _locations(info) == ["stages.0.block.out"]


def test_empty_stages_names_stages() -> None:
    info = _rejects({"name": "tiny", "stages": []})
    assert _locations(info) == ["stages"]


@pytest.mark.parametrize(
    ("document", "location"),
    [
        (_spec({"type": "mbconv", "out": 16, "kernal": 3}), "stages.0.block.kernal"),
        (_spec(stagse=[]), "stagse"),
        (_spec(rounding={"divisr": 8}), "rounding.divisr"),
        (_spec(scaling={"variants": {"b0": {"widht": 1.0}}}), "scaling.variants.b0.widht"),
    ],
)
def test_unknown_field_names_the_typo(document: dict, location: str) -> None:
    info = _rejects(document)
    assert _locations(info) == [location]


def test_every_problem_is_reported_at_once() -> None:
    """Two mistakes give two located problems, so a user fixes them in one pass."""
    info = _rejects(_spec({"type": "mbconv", "out": 0, "kernel": 4}))
    assert sorted(_locations(info)) == ["stages.0.block.kernel", "stages.0.block.out"]
    assert str(info.value).startswith("2 problems")


def test_unknown_default_variant_names_scaling() -> None:
    info = _rejects(_spec(scaling={"default": "b9", "variants": {"b0": {}}}))
    assert _locations(info) == ["scaling"]
    assert "b9" in str(info.value)


@pytest.mark.parametrize("document", [[1, 2], "just text", 42, None])
def test_non_mapping_top_level_is_rejected(document: object) -> None:
    info = _rejects(document)
    assert "mapping" in str(info.value)
    assert type(document).__name__ in str(info.value)


@pytest.mark.parametrize(
    ("phi", "words"),
    [(40, "blocks"), (1e6, "finite"), (float("nan"), "nan"), (float("inf"), "inf"), (-1e6, "finite")],
)
def test_phi_past_the_budget_names_phi(phi: float, words: str) -> None:
    """An absurd compound coefficient is refused before anything is built."""
    with pytest.raises(SpecError) as info:
        resolve(load_family("efficientnet"), phi=phi)
    assert _locations(info) == ["phi"]
    assert words in str(info.value)


def test_cost_budget_names_the_variant() -> None:
    """A variant whose parameter or MAC count exceeds the budget is refused, naming it."""
    spec = load_family("efficientnet")
    with pytest.raises(SpecError) as params:
        resolve(spec, variant="b0", budget=Budget(max_params=1e6))
    assert _locations(params) == ["variant"] and "parameters" in str(params.value)
    with pytest.raises(SpecError) as macs:
        resolve(spec, phi=1.0, budget=Budget(max_macs=1e8))
    assert _locations(macs) == ["phi"] and "MACs" in str(macs.value)


@pytest.mark.parametrize(
    ("kwargs", "location"),
    [({"width": 100.0}, "width"), ({"depth": float("nan")}, "depth"), ({"resolution": 4}, "resolution")],
)
def test_bad_explicit_multipliers_name_the_field(kwargs: dict, location: str) -> None:
    with pytest.raises(SpecError) as info:
        resolve(load_family("efficientnet"), **kwargs)
    assert _locations(info) == [location]


def test_unknown_variant_names_variant_and_lists_known() -> None:
    with pytest.raises(SpecError) as info:
        resolve(load_family("efficientnet"), variant="b9")
    assert _locations(info) == ["variant"]
    assert "b9" in str(info.value) and "b7" in str(info.value)


def test_unknown_zoo_variant_names_model() -> None:
    with pytest.raises(SpecError) as info:
        load_model("efficientnet-b9")
    assert _locations(info) == ["model"]
    assert "efficientnet-b0" in str(info.value)


def test_malformed_yaml_names_the_line() -> None:
    text = "name: tiny\nstages:\n  - {block: {type: conv, out: 8}\n"
    with pytest.raises(SpecError) as info:
        parse_text(text)
    assert "malformed YAML" in str(info.value)
    assert "line 4" in _locations(info)[0]


def test_yaml_python_tags_are_rejected_not_executed(tmp_path: Path) -> None:
    """safe_load only: a python/object tag is malformed YAML, and nothing it names runs."""
    marker = tmp_path / "ran"
    text = f"name: !!python/object/apply:pathlib.Path.touch [{str(marker)!r}]\nstages: []\n"
    with pytest.raises(SpecError) as info:
        parse_text(text)
    assert "malformed YAML" in str(info.value) and "line 1" in str(info.value)
    assert not marker.exists()


def test_text_larger_than_the_limit_is_refused() -> None:
    text = "# " + "x" * MAX_SPEC_BYTES + "\nname: tiny\n"
    with pytest.raises(SpecError, match="larger than"):
        parse_text(text)


def test_file_larger_than_the_limit_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("# " + "x" * MAX_SPEC_BYTES + "\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(info.value).startswith(str(path))
    assert "larger than" in str(info.value)


def test_alias_expansion_is_rejected_quickly() -> None:
    """A 'billion laughs' document (10^8 aliased stages) is refused on the stage count."""
    lines = ["a0: &a0 {block: {type: conv, out: 8}}"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    with pytest.raises(SpecError) as info:
        parse_text("\n".join([*lines, "name: x", "stages: *a8"]))
    assert any(location.endswith(("stages", "stages.0")) for location in _locations(info))


@pytest.mark.parametrize(
    ("name", "text", "location"),
    [
        ("bad.yaml", "name: tiny\nstages:\n  - {block: {type: conv, out: 0}}\n", "stages.0.block.out"),
        (
            "bad.json",
            '{"name": "tiny", "stages": [{"block": {"type": "conv", "out": 8, "kernel": 2}}]}',
            "stages.0.block.kernel",
        ),
        ("broken.yaml", "name: tiny\nstages: [\n", "line 3"),
        ("list.yml", "- 1\n- 2\n", ""),
    ],
)
def test_errors_from_a_file_are_prefixed_with_its_path(
    tmp_path: Path, name: str, text: str, location: str
) -> None:
    """load_spec puts the file path before every problem's location."""
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(info.value).startswith(f"{path}: ")
    assert _locations(info)[0].startswith(str(path))
    assert location in _locations(info)[0]


def test_missing_or_unreadable_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as missing:
        load_spec(tmp_path / "absent.yaml")
    assert str(tmp_path / "absent.yaml") in str(missing.value)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(SpecError) as undecodable:
        load_spec(binary)
    assert str(binary) in str(undecodable.value)


@pytest.mark.parametrize("value", [True, "8", 8.0])
def test_channels_must_be_integers_not_coercible_values(value: object) -> None:
    assert "stages.0.block.out" in _locations(_rejects(_spec({"type": "conv", "out": value})))


def test_duplicate_yaml_key_names_the_key_and_line() -> None:
    text = "name: x\nstages:\n  - block: {type: conv, out: 8}\nstages:\n  - block: {type: conv, out: 16}\n"
    with pytest.raises(SpecError) as info:
        parse_text(text, "dup.yaml")
    assert "duplicate key 'stages'" in str(info.value) and "line 4" in str(info.value)


def test_exponent_without_a_dot_is_a_float() -> None:
    spec = parse_text(
        "name: x\nnorm: {eps: 1e-3, momentum: 1E-2}\nstages:\n  - block: {type: conv, out: 8}\n"
    )
    assert (spec.norm.eps, spec.norm.momentum) == (0.001, 0.01)
