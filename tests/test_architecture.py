"""The house keeps its shape: one dependency direction, small modules, the wings in subpackages.

The direction is written as import-linter contracts in pyproject.toml (docs/architecture.md draws
it). They are checked on this checkout, and on a copy with one forbidden import added, which
they must refuse: a contract that cannot fail proves nothing.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from collector import AudienceError

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("collector", "dashboards")
COMPOSITION_ROOT = {"__init__.py", "cli.py", "serve.py", "app.py", "settings.py"}
MAX_MODULE_LINES = 400
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    """import-linter on the packages under ``where`` (its working directory comes first on the
    import path, so a copy is read instead of the installed checkout)."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden", "contract"),
    [
        ("dashboards/stats.py", "collector.ingest.pipeline", "never the ingest or privacy wings"),
        ("dashboards/views.py", "collector.privacy.rights", "never the ingest or privacy wings"),
        ("collector/storage/writer.py", "collector.privacy.rights", "Wings are layered"),
        ("collector/web/http.py", "collector.storage.store", "Wings are layered"),
        ("collector/ingest/pipeline.py", "collector.privacy.api", "Wings are layered"),
        ("collector/serve.py", "collector.demo.site", "Only the CLI starts the demo"),
    ],
)
def test_a_forbidden_import_breaks_them(
    tmp_path: Path, module: str, forbidden: str, contract: str
) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / module).open("a") as source:
        source.write(f"\nimport {forbidden}  # the import the contracts forbid\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = result.stdout.split("Broken contracts", 1)[1]
    assert contract in broken, result.stdout
    importer = module.removesuffix(".py").replace("/", ".")
    assert f"{importer} -> {forbidden}" in broken, result.stdout


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_the_collector_top_level_is_the_composition_root() -> None:
    modules = {path.name for path in (ROOT / "collector").glob("*.py")}
    assert modules <= COMPOSITION_ROOT, modules - COMPOSITION_ROOT
    packages = (ROOT / "collector").iterdir()
    wings = {path.name for path in packages if (path / "__init__.py").exists()}
    assert wings == {"ingest", "storage", "privacy", "web", "ops", "console", "demo", "snippet"}


def test_every_error_of_the_product_is_an_audience_error() -> None:
    """One base for the errors the product raises: each carries a status and a message."""
    found = {}
    for package in PACKAGES:
        root = importlib.import_module(package)
        for module_info in pkgutil.walk_packages(root.__path__, f"{package}."):
            module = importlib.import_module(module_info.name)
            for name, value in vars(module).items():
                if (
                    inspect.isclass(value)
                    and issubclass(value, BaseException)
                    and value.__module__ == module.__name__
                ):
                    found[f"{module.__name__}.{name}"] = value
    assert len(found) >= 14, sorted(found)
    strays = sorted(name for name, error in found.items() if not issubclass(error, AudienceError))
    assert strays == []
    for error in found.values():
        assert isinstance(error.status, int) and 400 <= error.status <= 599, error
