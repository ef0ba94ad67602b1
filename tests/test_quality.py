"""The code stays ruff-clean, formatted and strictly typed, and every setting is documented."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = BIN / name
    if not found.exists():
        located = shutil.which(name)
        if located is None:
            pytest.fail(f"{name} is not installed: install the test extra")
        return located
    return str(found)


@pytest.mark.parametrize(
    "command",
    [("ruff", "check", "."), ("ruff", "format", "--check", "."), ("mypy",)],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_static_checks_pass(command: tuple[str, ...]) -> None:
    result = subprocess.run(
        [tool(command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_setting_is_documented_in_the_readme() -> None:
    source = (ROOT / "collector" / "settings.py").read_text()
    variables = {f"AUDIENCE_{name}" for name in re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', source)}
    variables.add("AUDIENCE_CLICKHOUSE_URL")
    variables.add("AUDIENCE_SECRET_KEY")
    assert len(variables) >= 15
    readme = (ROOT / "README.md").read_text()
    undocumented = sorted(v for v in variables if f"`{v}`" not in readme)
    assert undocumented == []


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```sh\n(.*?)\n```", readme, flags=re.S | re.M)
    assert "audience serve --demo" in blocks[0]
    assert "pytest" in blocks[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "README.md" in ci
