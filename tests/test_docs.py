"""The user documentation stays true: its examples run and its field reference is complete."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from pydantic import BaseModel

from scalespec.cli import main
from scalespec.spec import blocks, network

ROOT = Path(__file__).resolve().parents[1]
SPEC_DOC = ROOT / "docs" / "spec.md"


def _models() -> list[type[BaseModel]]:
    found = []
    for module in (blocks, network):
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseModel)
                and value.__module__ == module.__name__
            ):
                found.append(value)
    return found


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize("model", _models(), ids=lambda m: m.__name__)
def test_every_spec_field_is_documented(model: type[BaseModel]) -> None:
    text = SPEC_DOC.read_text()
    missing = [name for name in model.model_fields if f"`{name}`" not in text]
    assert not missing, f"docs/spec.md does not mention {model.__name__} fields {missing}"


@pytest.mark.parametrize("doc", ["README.md", "docs/spec.md"])
def test_python_examples_run(doc: str, monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    snippets = _python_blocks(ROOT / doc)
    assert snippets, f"{doc} has no python example"
    for snippet in snippets:
        if 'get_backend("torch")' in snippet:
            pytest.importorskip("torch")
        exec(compile(snippet, doc, "exec"), {})
    assert capsys.readouterr().out.strip()


def test_readme_example_prints_torchvisions_b0_parameter_count(monkeypatch, capsys) -> None:
    """The README promises 5288548, torchvision's published figure for efficientnet_b0."""
    pytest.importorskip("torch")
    monkeypatch.chdir(ROOT)
    for snippet in _python_blocks(ROOT / "README.md"):
        exec(compile(snippet, "README.md", "exec"), {})
    assert "5288548" in capsys.readouterr().out


def _worked_example_commands() -> list[list[str]]:
    text = SPEC_DOC.read_text().split("## Worked example", 1)[1]
    commands = re.findall(r"`scalespec ((?:validate|show|fit) [^`]+)`", text)
    return [shlex.split(command) for command in commands]


@pytest.mark.parametrize("argv", _worked_example_commands(), ids=" ".join)
def test_worked_example_commands_succeed(argv: list[str], monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    assert main(argv) == 0, capsys.readouterr().err
