"""The user documentation stays true: its examples run and its field reference is complete."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
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


DOCS = sorted(["README.md", *(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))])
FRAMEWORKS = {"torch": "torch", "tensorflow": "tensorflow", "onnxruntime": "onnxruntime"}


def _python_blocks(path: Path) -> list[str]:
    """Every python code block of a markdown file (dedented: a block may sit in a list item)."""
    return [textwrap.dedent(b) for b in re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)]


@pytest.mark.parametrize("model", _models(), ids=lambda m: m.__name__)
def test_every_spec_field_is_documented(model: type[BaseModel]) -> None:
    text = SPEC_DOC.read_text()
    missing = [name for name in model.model_fields if f"`{name}`" not in text]
    assert not missing, f"docs/spec.md does not mention {model.__name__} fields {missing}"


@pytest.mark.parametrize("doc", [d for d in DOCS if _python_blocks(ROOT / d)])
def test_python_examples_run(doc: str, monkeypatch, capsys) -> None:
    """Every python example in README.md and docs/ runs and prints something."""
    monkeypatch.chdir(ROOT)
    for snippet in _python_blocks(ROOT / doc):
        for needle, module in FRAMEWORKS.items():
            if f"import {needle}" in snippet or f'get_backend("{needle}")' in snippet:
                pytest.importorskip(module)
        exec(compile(snippet, doc, "exec"), {})
    assert capsys.readouterr().out.strip()


def _quick_start() -> list[list[str]]:
    """The README's quick-start commands, as scalespec argument lists."""
    block = ROOT.joinpath("README.md").read_text().split("## Quick start", 1)[1].split("```", 2)[1]
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith(".venv/bin/scalespec ")]


@pytest.mark.parametrize("argv", _quick_start(), ids=" ".join)
def test_readme_quick_start_commands_succeed(argv: list[str], tmp_path, monkeypatch, capsys) -> None:
    """Each quick-start command exits 0; files it writes go to a scratch folder."""
    if argv[0] in ("generate", "conform"):
        pytest.importorskip("torch")
        pytest.importorskip("tensorflow")
    for path in ("examples", "scalespec"):
        (tmp_path / path).symlink_to(ROOT / path)
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 0, capsys.readouterr().err


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


def test_workflow_install_line_installs_from_a_clone(tmp_path):
    """The workflow's install command, run as written in a fresh venv against a fresh clone at
    the path its checkout step uses (``--no-deps`` added: CI does not download the frameworks
    again), installs an importable scalespec whose extras exist."""
    import tomllib

    workflow = yaml.safe_load((ROOT / "docs" / "examples" / "github-workflow.yml").read_text())
    steps = workflow["jobs"]["conform"]["steps"]
    checkout = next(step for step in steps if step.get("with", {}).get("path"))
    install = next(step for step in steps if step.get("name", "").startswith("Install scalespec"))
    line = next(line for line in install["run"].splitlines() if '[torch,tensorflow,test]"' in line)
    clone = tmp_path / checkout["with"]["path"]
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    command = line.strip().replace("python ", f"{venv / 'bin' / 'python'} ", 1) + " --no-deps --quiet"
    done = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    probe = [str(venv / "bin" / "python"), "-c", "import scalespec, sys; print(scalespec.__file__)"]
    where = subprocess.run(probe, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert str(venv) in where.stdout, where.stderr
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {"torch", "tensorflow", "test"} <= set(extras)
