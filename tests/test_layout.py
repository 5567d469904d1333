"""How canvascap is put together: one namespace, layers that point one way, no cycles.

The layer contract is checked on the source with ``ast`` (every import counts, lazy
and type-only ones too), so it holds however the package is installed.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.cli import ROOT, cli_env
from tests.timing import seconds

BARE = ("pipeline", "captions", "stages", "web", "configs", "bench", "app")

# What each layer may import, besides itself (see app/__init__.py).
ALLOWED = {
    "pipeline": set(),
    "captions": {"pipeline"},
    "stages": {"pipeline", "captions"},
    "web": {"pipeline", "captions"},
    "configs": set(),
    "app": {"pipeline", "captions", "stages", "web", "configs"},
    "bench": {"pipeline", "captions", "stages", "web", "configs", "app"},
    "cli": {"pipeline", "captions", "stages", "web", "configs", "app", "bench"},
}


def package_dirs() -> dict[str, Path]:
    """Installed package name -> source folder, as pyproject.toml maps them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return {name: ROOT / folder for name, folder in config["package-dir"].items()}


def modules() -> dict[str, Path]:
    """Every module of the package by its installed name."""
    found: dict[str, Path] = {}
    dirs = package_dirs()
    for package, folder in dirs.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            found[".".join((package, *parts)).removesuffix(".__init__")] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """canvascap modules that ``name`` imports, anywhere in its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return {t for t in out if t in known}


def layer(module: str) -> str:
    """The layer a module belongs to; ``python -m canvascap`` is the command line."""
    parts = module.split(".")
    if parts[1:] == ["__main__"]:
        return "cli"
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else "app"


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def test_every_layer_imports_only_the_layers_below_it(graph) -> None:
    assert {"canvascap.pipeline.runner", "canvascap.cli", "canvascap.web.server"} <= set(graph)
    wrong = [
        f"{module} imports {target}"
        for module, targets in graph.items()
        for target in targets
        if layer(target) != layer(module) and layer(target) not in ALLOWED[layer(module)]
    ]
    assert wrong == []


CORE = {
    "canvascap.pipeline",
    "canvascap.pipeline.channel",
    "canvascap.pipeline.clock",
    "canvascap.pipeline.config",
    "canvascap.pipeline.errors",
    "canvascap.pipeline.metrics",
    "canvascap.pipeline.registry",
    "canvascap.pipeline.runner",
    "canvascap.pipeline.services",
    "canvascap.pipeline.stage",
    "canvascap.pipeline.tasks",
    "canvascap.pipeline.testing",
    "canvascap.pipeline.types",
}
"""The core runtime: messages, channels, time, the stage contract, config, registry,
runner, metrics, session services and the stage test harness. Caption features live in
canvascap.captions."""
FAMILIES = {"sources", "recognition", "speakers", "translation", "sinks"}


def test_the_core_holds_only_the_runtime_and_stages_come_in_families(graph) -> None:
    assert {m for m in graph if m.startswith("canvascap.pipeline")} == CORE
    top = [p for p in (ROOT / "stages").iterdir() if p.suffix == ".py" or p.is_dir()]
    modules = [p.name for p in top if p.suffix == ".py"]
    folders = {p.name for p in top if p.is_dir() and (p / "__init__.py").exists()}
    assert len(modules) <= 10, modules
    assert folders == FAMILIES


def test_captions_sit_between_the_core_and_the_stages(graph) -> None:
    shared = {m for m in graph if layer(m) == "captions"}
    assert {"canvascap.captions.subtitles", "canvascap.captions.profanity"} <= shared
    users = {layer(m) for m, targets in graph.items() if targets & shared}
    assert {"stages", "web"} <= users
    assert "pipeline" not in users


MAX_FUNCTION_LINES = 60
MAX_CLASS_LINES = 300


def test_no_long_function_or_class_outside_tests() -> None:
    long = []
    for path in modules().values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            limit = (
                MAX_CLASS_LINES
                if isinstance(node, ast.ClassDef)
                else MAX_FUNCTION_LINES
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                else None
            )
            if limit is not None and node.end_lineno - node.lineno + 1 > limit:  # type: ignore[operator]
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert long == []


def test_no_import_cycles(graph) -> None:
    cycles = _cycles(graph)
    assert cycles == [], cycles


def test_the_core_knows_no_stage_by_name() -> None:
    names = {point.name for point in importlib.metadata.entry_points(group="canvascap.stages")}
    assert "asr.faster_whisper" in names
    strings = {
        node.value
        for path in (ROOT / "pipeline").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    assert not [s for s in strings if any(name in s for name in names)]


NO_BARE_MODULES = f"""
import sys
from canvascap.cli import main
status = main(["run", "--input", sys.argv[1], "--no-realtime", "--out", sys.argv[2],
               "--port", "0", "--translate", "en"])
bare = sorted(m for m in sys.modules if m.split(".")[0] in {BARE!r})
print(status, bare)
"""


def test_a_session_loads_no_module_under_a_bare_name(tmp_path) -> None:
    clip = ROOT / "app" / "assets" / "jfk.flac"
    result = subprocess.run(
        [sys.executable, "-c", NO_BARE_MODULES, str(clip), str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=cli_env(),
        timeout=seconds(300),
    )
    assert result.stdout.strip().splitlines()[-1] == "0 []", result.stderr


DUMMY_PYPROJECT = """
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"
[project]
name = "other-web"
version = "1.0"
[tool.setuptools]
packages = ["web"]
"""


@pytest.mark.slow
def test_installs_beside_a_distribution_that_owns_web_and_uninstalls_cleanly(tmp_path) -> None:
    """A real wheel of canvascap in a fresh venv, next to another package named ``web``.

    Only canvascap's own files are installed from its wheel; its third-party
    dependencies come from the test environment through a path file, so the test
    needs no network.
    """
    wheels = tmp_path / "wheels"
    dummy = tmp_path / "other-web"
    (dummy / "web").mkdir(parents=True)
    (dummy / "pyproject.toml").write_text(DUMMY_PYPROJECT)
    (dummy / "web" / "__init__.py").write_text("def hello():\n    return 'other web'\n")
    pip = [sys.executable, "-m", "pip"]
    for project in (ROOT, dummy):
        _ok([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", wheels, project])
    fresh = tmp_path / "fresh"
    _ok([sys.executable, "-m", "venv", "--without-pip", fresh])
    python = fresh / "bin" / "python"
    site = Path(_ok([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]))
    deps = next(p for p in map(Path, sys.path) if p.name == "site-packages")
    (site / "test-deps.pth").write_text(f"{deps}\n")
    _ok(
        [
            *pip,
            "--python",
            python,
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            *sorted(wheels.glob("*.whl")),
        ]
    )

    check = """
import importlib.util, sys
import web, canvascap.web.server as server
print(web.hello())
print(server.__file__.startswith(sys.argv[1]))
print([n for n in sys.argv[2:] if importlib.util.find_spec(n) is not None])
"""
    out = _ok([python, "-c", check, str(site), *BARE, "tests"], cwd=tmp_path).splitlines()
    assert out == ["other web", "True", "['web']"]
    assert (site / "canvascap" / "web" / "static" / "overlay.html").is_file()
    text = _ok(
        [fresh / "bin" / "canvascap", "transcribe", ROOT / "app/assets/jfk.flac"], cwd=tmp_path
    )
    assert "fellow americans" in text.lower()

    _ok([*pip, "--python", python, "uninstall", "-q", "-y", "canvascap"])
    assert not (site / "canvascap").exists()
    assert _ok([python, "-c", "import web; print(web.hello())"], cwd=tmp_path) == "other web"


def _ok(command: list[object], cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**cli_env(), "PYTHONPATH": ""},
        timeout=seconds(600),
    )
    assert result.returncode == 0, f"{command}: {result.stderr[-2000:]}"
    return result.stdout.strip()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in graph:
        if node not in index:
            visit(node)
    return found


os.environ.setdefault("HF_HUB_OFFLINE", "1")
