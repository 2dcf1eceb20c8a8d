"""The project's set-up files agree with each other and with the README."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# Entries only conda needs (the interpreter, pip itself, Node for the book's JS, the CUDA
# runtime package) and conda's names for PyPI packages.
CONDA_ONLY = {"python", "pip", "nodejs", "pytorch-cuda"}
CONDA_TO_PYPI = {"pytorch": "torch"}


def _split(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    assert m, f"cannot parse requirement {req!r}"
    return m.group(1).lower(), m.group(2).replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"])
    for extra in data["project"]["optional-dependencies"].values():
        reqs += extra
    return dict(_split(r) for r in reqs)


def conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for r in dep["pip"]:
                if r.startswith("-e"):
                    continue
                name, spec = _split(r)
                out[name] = spec
        else:
            name, spec = _split(dep)
            if name in CONDA_ONLY:
                continue
            # conda writes exact pins with one '='
            spec = re.sub(r"^=(?!=)", "==", spec)
            out[CONDA_TO_PYPI.get(name, name)] = spec
    return out


def test_environment_yml_matches_pyproject():
    py, conda = pyproject_requirements(), conda_requirements()
    assert sorted(py) == sorted(conda), (
        f"only in pyproject: {sorted(set(py) - set(conda))}; "
        f"only in environment.yml: {sorted(set(conda) - set(py))}"
    )
    for name in py:
        assert py[name] == conda[name], f"{name}: pyproject {py[name]!r} vs environment.yml {conda[name]!r}"


def test_book_toolchain_pinned_exactly_and_library_requirements_are_ranges():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for req in data["project"]["optional-dependencies"]["book"]:
        assert "==" in req, f"book toolchain must be pinned exactly: {req}"
    for req in data["project"]["dependencies"]:
        assert ">=" in req and "==" not in req, f"library requirement should be a range: {req}"
    names = {_split(r)[0] for r in data["project"]["optional-dependencies"]["book"]}
    assert {"jupyter-book", "sphinx", "ipywidgets", "jupyterlab"} <= names
    assert data["project"]["optional-dependencies"]["book"][0].startswith("jupyter-book==1.")


def test_no_torchvision_anywhere():
    py = pyproject_requirements()
    assert "torchvision" not in py
    for path in list((ROOT / "inpaintlib").rglob("*.py")) + list((ROOT / "tests").rglob("*.py")):
        text = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+torchvision", text, re.M), path


def test_npm_packages_pinned_and_locked():
    import json

    pkg = json.loads((ROOT / "book/_js/package.json").read_text())
    for name, version in pkg["dependencies"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} should be pinned exactly"
    lock = json.loads((ROOT / "book/_js/package-lock.json").read_text())
    for name, version in pkg["dependencies"].items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


def test_readme_quick_start_is_the_two_make_commands():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start.*?```(?:bash|sh)?\n(.*?)```", readme, re.S)
    assert block, "README needs a '## Quick start' section with a code block"
    commands = [l.strip() for l in block.group(1).splitlines() if l.strip() and not l.strip().startswith("#")]
    assert commands == ["make book", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^book:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci/run").read_text()
    assert re.search(r"^make test\b", ci, re.M)
