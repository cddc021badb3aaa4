"""Load and dump spec files (YAML or JSON) and publish the JSON Schema."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import SpecError
from .blocks import BLOCK_TYPES
from .network import NetworkSpec

MAX_SPEC_BYTES = 1 << 20  # a spec is a page of text; a megabyte is a mistake or an attack

# Characters a YAML reader refuses or folds as line breaks (NEL, LS, PS) inside a JSON string;
# JSON dumps \u-escape them (all lie in the BMP) but keep other characters as they are, since
# PyYAML does not join json's surrogate-pair escapes back into one character.
_JSON_ESCAPED = re.compile("[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Line breaks PyYAML's emitter folds away in plain or single-quoted style; double quotes escape them.
_YAML_LINE_BREAKS = frozenset("\x85\u2028\u2029")


class _SpecDumper(yaml.SafeDumper):
    """SafeDumper whose strings survive a round trip: double-quoted when they hold NEL/LS/PS."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if _YAML_LINE_BREAKS.intersection(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_SpecDumper.add_representer(str, _represent_str)


class _SpecLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and reads ``1e-3`` as a float, as YAML 1.2 does."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"a key must be a plain value, not a {type(key).__name__}",
                    key_node.start_mark,
                ) from None
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# PyYAML follows YAML 1.1, where a float needs a dot; spec authors write 1e-3 and mean a number.
_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _location(loc: tuple[Any, ...]) -> str:
    """Dotted field path, without the discriminator tag pydantic inserts after ``block``."""
    parts = [str(part) for part in loc]
    kept = [p for i, p in enumerate(parts) if not (i and parts[i - 1] == "block" and p in BLOCK_TYPES)]
    return ".".join(kept)


def validation_problems(error: ValidationError) -> list[tuple[str, str]]:
    return [(_location(item["loc"]), item["msg"]) for item in error.errors()]


def parse_spec(data: Any, source: str | None = None) -> NetworkSpec:
    """Validate already-parsed data (a dict) into a NetworkSpec, raising SpecError."""
    if not isinstance(data, dict):
        raise SpecError([("", f"a spec must be a mapping, got {type(data).__name__}")], source)
    try:
        return NetworkSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(validation_problems(exc), source) from None


def parse_text(text: str, source: str = "<string>") -> NetworkSpec:
    """Parse YAML (a superset of JSON) text into a NetworkSpec."""
    if len(text.encode("utf-8", "replace")) > MAX_SPEC_BYTES:
        raise SpecError([("", f"spec is larger than {MAX_SPEC_BYTES} bytes")], source)
    try:
        data = yaml.load(text, Loader=_SpecLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError([(where, f"malformed YAML: {problem}")], source) from None
    except RecursionError:
        raise SpecError([("", "malformed YAML: nested too deeply")], source) from None
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        # PyYAML's constructors raise these for values their tags cannot hold:
        # !!float abc, !!timestamp nope, an integer of more than 4300 digits, ...
        raise SpecError(
            [("", f"malformed YAML: a value its tag cannot hold ({type(exc).__name__}: {exc})")], source
        ) from None
    return parse_spec(data, source)


def load_spec(path: str | Path) -> NetworkSpec:
    """Read a .yaml/.yml/.json spec file."""
    path = Path(path)
    try:
        with path.open("rb") as handle:  # at most one byte past the limit: /dev/zero has no size
            data = handle.read(MAX_SPEC_BYTES + 1)
        if len(data) > MAX_SPEC_BYTES:
            raise SpecError([("", f"spec file is larger than {MAX_SPEC_BYTES} bytes")], str(path))
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([("", f"cannot read spec file: {exc}")], str(path)) from None
    return parse_text(text, str(path))


def dump_spec(spec: NetworkSpec, fmt: str = "yaml") -> str:
    """Serialise a spec; ``parse_text(dump_spec(s)) == s`` for every valid spec."""
    data = spec.model_dump(mode="json", exclude_unset=True)
    if fmt == "json":
        text = json.dumps(data, indent=2, ensure_ascii=False)
        return _JSON_ESCAPED.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"
    return yaml.dump(data, Dumper=_SpecDumper, sort_keys=False, allow_unicode=True)


def json_schema() -> dict:
    """The JSON Schema of spec files, for editors and external validators."""
    schema = NetworkSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "scalespec network spec"
    return schema
