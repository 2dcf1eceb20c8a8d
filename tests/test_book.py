"""The HTML book: it builds offline with every notebook executed, and its pages work
from disk in a real browser with no network."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from inpaintlib.teaching import STUB, write_student_copies

ROOT = Path(__file__).resolve().parents[1]


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for ch in part.get("chapters", []):
            files.append(ch["file"])
            files += [s["file"] for s in ch.get("sections", [])]
    return files


def book_notebooks() -> list[Path]:
    return sorted((ROOT / "book").glob("*.ipynb"))


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    """Build the book once per test session, as `make book` does, into a temporary folder.

    Notebook execution goes through the book's cache (`_build/.jupyter_cache` in the
    repository), so an unchanged notebook is executed once and reused by later builds.
    """
    if not (ROOT / "book/_widgets_js/embed-amd.js").exists():
        pytest.fail("book/_widgets_js is missing: run the tests through `make test` (it installs the book's JavaScript)")
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).with_name("jupyter-book")
    # Fresh checkpoints: every training cell really trains in the test build.
    env = dict(os.environ, INPAINTLIB_PROFILE="quick", INPAINTLIB_CHECKPOINTS=str(out / "checkpoints"))
    start = time.perf_counter()
    r = subprocess.run(
        [str(jb), "build", str(ROOT), "--path-output", str(out), "-W", "-n", "--keep-going"],
        capture_output=True, text=True, env=env, timeout=1800,
    )
    log = r.stdout + r.stderr
    (out / "build.log").write_text(log)
    assert r.returncode == 0, f"book build failed (log: {out / 'build.log'}):\n{log[-4000:]}"
    print(f"book built in {time.perf_counter() - start:.1f} s")
    return out / "_build"


def test_every_notebook_is_in_the_table_of_contents():
    toc = set(toc_files())
    for nb in book_notebooks():
        assert f"book/{nb.stem}" in toc, f"{nb.name} is not in _toc.yml, so the build never executes it"


def test_committed_notebooks_carry_no_outputs_or_errors():
    """Sources stay clean: outputs come from the build, never from a stale local run."""
    for nb in book_notebooks():
        data = json.loads(nb.read_text())
        for i, cell in enumerate(data["cells"]):
            if cell["cell_type"] == "code":
                assert cell.get("outputs", []) == [], f"{nb.name} cell {i} has stored outputs"


def test_book_builds_and_every_notebook_ran_without_errors(built_book):
    html = built_book / "html"
    for f in toc_files():
        assert (html / f"{f}.html").is_file(), f"{f}.html was not built"
    # The executed notebooks live in the execution cache (the build's jupyter_execute/ holds
    # plain copies for notebooks that came from the cache).
    import nbformat
    from jupyter_cache import get_cache

    cache = get_cache(str(ROOT / "_build/.jupyter_cache"))
    for nb in book_notebooks():
        try:
            _, merged = cache.merge_match_into_notebook(nbformat.read(str(nb), as_version=4))
        except KeyError:
            pytest.fail(f"{nb.name} has no executed copy in the execution cache")
        data = json.loads(nbformat.writes(merged))
        code = [c for c in data["cells"] if c["cell_type"] == "code"]
        for i, cell in enumerate(code):
            assert cell.get("execution_count"), f"{nb.name}: code cell {i} did not run"
            for out in cell.get("outputs", []):
                assert out["output_type"] != "error", f"{nb.name}: cell {i} raised {out.get('ename')}: {out.get('evalue')}"
                if out["output_type"] == "stream" and out["name"] == "stderr":
                    assert "Traceback" not in out["text"], f"{nb.name}: cell {i} printed a traceback"


def test_widget_state_and_local_javascript_are_in_the_page(built_book):
    page = (built_book / "html/book/intro.html").read_text()
    assert 'application/vnd.jupyter.widget-state+json' in page
    assert 'application/vnd.jupyter.widget-view+json' in page
    for src in re.findall(r'<script[^>]+src="([^"]+)"', page):
        assert not src.startswith(("http://", "https://", "//")), f"page loads script from the network: {src}"
    static = built_book / "html/_static"
    assert (static / "embed-amd.js").is_file() and (static / "require.js").is_file()
    assert (static / "mathjax/tex-mml-chtml.js").is_file()


def test_intro_page_offline_in_chromium(built_book, chromium, tmp_path):
    """Open the built page from disk with every non-file request blocked: it renders its
    text, figures, equations and the explorer's controls from the saved widget state."""
    page_url = (built_book / "html/book/intro.html").as_uri()
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    outside = []

    def guard(route):
        url = route.request.url
        if url.startswith(("file://", "data:", "blob:", "about:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.goto(page_url, wait_until="load")
    page.wait_for_selector(".widget-slider", timeout=30_000)
    page.wait_for_selector("mjx-container", timeout=30_000)
    shot = tmp_path / "intro.png"
    page.screenshot(path=str(shot), full_page=False)
    assert page.locator("h1").first.inner_text().startswith("What is inpainting?")
    sliders = page.locator(".widget-slider")
    assert sliders.count() >= 4, f"expected the explorer's and the gallery's sliders, saw {sliders.count()} ({shot})"
    assert page.locator(".widget-dropdown").count() >= 3
    labels = page.locator(".widget-label").all_inner_texts()
    assert "hole %" in labels
    assert page.locator("mjx-container").count() >= 5
    # every figure decoded
    broken = page.evaluate("Array.from(document.images).filter(i => i.complete && i.naturalWidth === 0).map(i => i.src)")
    figures = page.evaluate("Array.from(document.querySelectorAll('.cell_output img')).length")
    assert figures >= 8 and broken == [], f"{figures} figures, broken: {broken}"
    assert outside == [], f"the page tried to reach the network: {outside}"
    context.close()


def test_student_copies_replace_solutions_and_clear_outputs(tmp_path):
    written = dict(write_student_copies(ROOT / "book", tmp_path))
    assert set(p.name for p in written) == {nb.name for nb in book_notebooks()}
    assert written[tmp_path / "intro.ipynb"] >= 1
    src = json.loads((ROOT / "book/intro.ipynb").read_text())
    dst = json.loads((tmp_path / "intro.ipynb").read_text())
    assert len(src["cells"]) == len(dst["cells"])
    for a, b in zip(src["cells"], dst["cells"]):
        tags = a.get("metadata", {}).get("tags", [])
        if "solution" in tags:
            assert "".join(b["source"]) == STUB
            assert "exercise" in b["metadata"]["tags"] and "solution" not in b["metadata"]["tags"]
        else:
            assert a["source"] == b["source"]
        if b["cell_type"] == "code":
            assert b["outputs"] == [] and b["execution_count"] is None


def test_make_student_command(tmp_path):
    r = subprocess.run([sys.executable, "-m", "inpaintlib.teaching", str(ROOT / "book"), str(tmp_path / "s")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "intro.ipynb  (1 exercise)" in r.stdout
    assert "benchmark.ipynb  (1 exercise)" in r.stdout
    for nb in book_notebooks():
        assert f"{nb.name}  (" in r.stdout, f"{nb.name} has no student copy"
    stub = json.loads((tmp_path / "s" / "intro.ipynb").read_text())
    stubs = [c for c in stub["cells"] if "exercise" in c["metadata"].get("tags", [])]
    assert stubs and all("raise NotImplementedError" in "".join(c["source"]) for c in stubs)
    r = subprocess.run([sys.executable, "-m", "inpaintlib.teaching", str(tmp_path / "empty"), str(tmp_path / "x")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("error: no notebooks found")
