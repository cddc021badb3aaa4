"""Spec files: exact YAML/JSON round trips, safe loading, and the published JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from scalespec.conformance.strategies import spec_data, specs
from scalespec.errors import SpecError
from scalespec.spec.io import dump_spec, json_schema, load_spec, parse_spec, parse_text
from scalespec.spec.network import NetworkSpec
from scalespec.zoo import families, load_family

FORMATS = ["yaml", "json"]


def _assert_round_trip(spec: NetworkSpec, fmt: str) -> None:
    """Parsing a dump gives an equal spec, and dumping that again gives the same text."""
    text = dump_spec(spec, fmt)
    again = parse_text(text)
    assert again == spec
    assert dump_spec(again, fmt) == text


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("family", ["efficientnet", "efficientnetv2"])
def test_zoo_specs_round_trip_exactly(family: str, fmt: str) -> None:
    _assert_round_trip(load_family(family), fmt)


@pytest.mark.parametrize("fmt", FORMATS)
@given(spec=specs(free_text=True))
def test_random_specs_round_trip_exactly(spec: NetworkSpec, fmt: str) -> None:
    _assert_round_trip(spec, fmt)


@given(spec_data(free_text=True))
def test_dump_keeps_exactly_what_the_author_wrote(document: dict) -> None:
    """Fields left out stay out of the dump (defaults are not frozen in); set ones come back as written."""
    assert yaml.safe_load(dump_spec(parse_spec(document))) == document
    assert json.loads(dump_spec(parse_spec(document), "json")) == document


def test_json_dump_is_json_and_yaml_dump_is_safe_yaml() -> None:
    spec = load_family("efficientnet")
    assert json.loads(dump_spec(spec, "json"))["name"] == "efficientnet"
    assert yaml.safe_load(dump_spec(spec, "yaml"))["stages"][0]["block"]["type"] == "mbconv"
    assert "!!" not in dump_spec(spec, "yaml")


@pytest.mark.parametrize(("fmt", "suffix"), [("yaml", ".yaml"), ("json", ".json"), ("yaml", ".yml")])
def test_files_round_trip_through_load_spec(tmp_path: Path, fmt: str, suffix: str) -> None:
    spec = load_family("efficientnetv2")
    path = tmp_path / f"v2{suffix}"
    path.write_text(dump_spec(spec, fmt), encoding="utf-8")
    assert load_spec(path) == spec


def test_python_object_tag_is_malformed_yaml() -> None:
    """yaml.safe_load only: a Python constructor tag is an error, never an object."""
    text = "name: !!python/object:scalespec.spec.network.NetworkSpec {}\nstages: []\n"
    with pytest.raises(SpecError, match="malformed YAML"):
        parse_text(text)


def test_json_schema_structure() -> None:
    """The schema is JSON, draft 2020-12, requires name and stages, and every $ref resolves."""
    schema = json.loads(json.dumps(json_schema()))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert {"name", "stages"} <= set(schema["required"])
    assert schema["additionalProperties"] is False
    defs = schema["$defs"]
    assert {"MBConv", "FusedMBConv", "ConvBlock", "DepthwiseSeparable", "Stage"} <= set(defs)
    refs = list(_refs(schema))
    assert refs
    for ref in refs:
        assert ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in defs


def _refs(node: object):
    """Every $ref string anywhere in a schema."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _validator():
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(json_schema())
    return jsonschema.Draft202012Validator(json_schema())


@pytest.mark.parametrize("family", ["efficientnet", "efficientnetv2"])
def test_json_schema_validates_the_zoo(family: str) -> None:
    assert family in families()
    document = yaml.safe_load(dump_spec(load_family(family)))
    errors = list(_validator().iter_errors(document))
    assert errors == []


@given(spec_data(free_text=True))
def test_json_schema_accepts_every_valid_spec(document: dict) -> None:
    """Whatever the pydantic models accept, an editor using the schema accepts too."""
    validator = _validator()
    document = json.loads(json.dumps(document))
    assert list(validator.iter_errors(document)) == []


@pytest.mark.parametrize(
    "document",
    [
        {"name": "x"},
        {"name": "x", "stages": [{"block": {"type": "mbconv", "out": 8, "kernal": 3}}]},
        {"name": "x", "stages": [{"block": {"type": "mbconv", "out": 8, "stride": 3}}]},
        {"name": "x", "stages": [{"block": {"type": "warp", "out": 8}}]},
    ],
)
def test_json_schema_rejects_what_the_models_reject(document: dict) -> None:
    assert list(_validator().iter_errors(document))
    with pytest.raises(SpecError):
        parse_spec(document)


@given(st.sampled_from(["efficientnet", "efficientnetv2"]), st.sampled_from(FORMATS))
def test_zoo_dumps_parse_from_their_own_text_only(family: str, fmt: str) -> None:
    """A dump is self-contained: parsing needs no file, path or zoo lookup."""
    assert parse_text(dump_spec(load_family(family), fmt), source="x").name == family
