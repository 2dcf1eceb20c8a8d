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
    given = os.environ.get("INPAINTLIB_BUILT_BOOK")
    if given:  # a build made by `make book` (folder holding html/): test it instead of building again
        built = Path(given).resolve()
        if not (built / "html/book/intro.html").is_file():
            pytest.fail(f"INPAINTLIB_BUILT_BOOK={given} holds no built book (no html/book/intro.html)")
        return built
    if not (ROOT / "book/_widgets_js/playground/manifest.js").exists():
        pytest.fail("book/_widgets_js/playground is missing: run the tests through `make test` (it builds the "
                    "playground page's models and scripts: `make playground`)")
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


def offline_context(chromium, outside: list):
    """A browser context that lets through only file, data, blob and about URLs; every
    other request is aborted and its URL appended to ``outside``."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})

    def guard(route):
        url = route.request.url
        if url.startswith(("file://", "data:", "blob:", "about:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", guard)
    return context


def test_intro_page_offline_in_chromium(built_book, chromium, tmp_path):
    """Open the built page from disk with every non-file request blocked: it renders its
    text, figures, equations and the explorer's controls from the saved widget state."""
    page_url = (built_book / "html/book/intro.html").as_uri()
    outside = []
    context = offline_context(chromium, outside)
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


# ---------------------------------------------------------------------------------------
# Every page as a reader meets it: opened from disk, nothing from the network
# ---------------------------------------------------------------------------------------
#: Screenshots of every page, kept by CI as an artifact.
SCREENSHOTS = ROOT / "_build" / "screenshots"
METHOD_CHAPTERS = ("clmser", "sc_lmser", "pconv", "gmcnn", "ctsdg")
#: The text of the label CSS puts above a widget cell's output in the static page.
RUNS_IN_JUPYTER = "Runs in Jupyter"

# One pass over the rendered page: what a reader would notice, as data.
READ_PAGE = r"""
async () => {
  for (const img of document.images) img.loading = "eager";
  await Promise.all(Array.from(document.images).map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const main = document.querySelector("main") || document.body;
  const inWidget = el => !!el.closest(".jupyter-widgets, .widget-output, .jp-OutputArea, .widget-area");
  const text = el => (el.innerText || "").trim();
  const rawTables = Array.from(main.querySelectorAll("p, li, pre.output, div.output pre"))
      .filter(el => /\|\s*:?-{3,}:?\s*\|/.test(el.textContent)).map(el => text(el).slice(0, 120));
  const math = Array.from(main.querySelectorAll("div.math, span.math"));
  const unrendered = math.filter(el => !el.querySelector("mjx-container")).map(el => el.textContent.slice(0, 80));
  const mathErrors = Array.from(main.querySelectorAll("mjx-merror")).map(el => el.textContent.slice(0, 80));
  const wide = Array.from(main.querySelectorAll('mjx-container[display="true"]'))
      .filter(el => el.scrollWidth > el.clientWidth + 2)
      .map(el => ({width: el.scrollWidth, column: el.clientWidth, tex: (el.closest(".math") || el).textContent.slice(0, 60)}));
  const images = Array.from(main.querySelectorAll("img"));
  const broken = images.filter(i => i.naturalWidth === 0).map(i => i.getAttribute("src"));
  const noAlt = images.filter(i => !inWidget(i) && !(i.getAttribute("alt") || "").trim()).map(i => i.getAttribute("src"));
  const figures = Array.from(main.querySelectorAll("figure")).map(f => ({
      id: f.id, caption: f.querySelector("figcaption") ? text(f.querySelector("figcaption")) : "",
      loaded: Array.from(f.querySelectorAll("img")).every(i => i.naturalWidth > 0) && f.querySelectorAll("img").length > 0}));
  const widgetCells = Array.from(main.querySelectorAll("div.cell"))
      .filter(c => c.querySelector('script[type="application/vnd.jupyter.widget-view+json"], .jupyter-widgets'));
  const unlabelled = widgetCells.filter(c => {
      const out = c.querySelector(".cell_output");
      return !out || !getComputedStyle(out, "::before").content.includes("RUNS_IN_JUPYTER");
  }).map(c => text(c).slice(0, 80));
  return {title: text(document.querySelector("h1") || document.body).slice(0, 80), tables: main.querySelectorAll("table").length,
          rawTables, math: math.length, unrendered, mathErrors, wide, images: images.length, broken, noAlt, figures,
          widgetCells: widgetCells.length, unlabelled};
}
""".replace("RUNS_IN_JUPYTER", RUNS_IN_JUPYTER)


def read_offline(chromium, html: Path, page_file: str, shot: Path):
    """Open one built page from disk with every non-file request blocked; return what
    :data:`READ_PAGE` finds, the console errors and the blocked requests."""
    outside, errors = [], []
    context = offline_context(chromium, outside)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url} ({r.failure})"))
    page.goto((html / page_file).as_uri(), wait_until="load")
    if page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count():
        page.wait_for_selector(".jupyter-widgets", timeout=30_000)
    found = page.evaluate(READ_PAGE)
    page.wait_for_timeout(300)        # late console errors (widget rendering, fonts)
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot))
    arch = page.locator("figure[id$='-architecture']")
    if arch.count():
        arch.first.scroll_into_view_if_needed()
        arch.first.screenshot(path=str(shot.with_name(shot.stem + "-architecture.png")))
    context.close()
    return found, errors, outside


@pytest.mark.parametrize("page_file", [f"{f}.html" for f in toc_files()])
def test_every_page_reads_offline_like_a_book(built_book, chromium, page_file):
    """A reader's pass over one page, from disk with the network blocked: no console error,
    no table left as a paragraph of pipes, every equation typeset and fitting the column,
    every image loaded and described (alt text), every figure numbered and captioned, and
    every widget cell labelled as running in Jupyter. A screenshot of the page (and of its
    architecture figure) goes to ``_build/screenshots``."""
    html = built_book / "html"
    name = Path(page_file).stem
    found, errors, outside = read_offline(chromium, html, page_file, SCREENSHOTS / f"{name}.png")
    where = f"{page_file} (screenshot {SCREENSHOTS / (name + '.png')})"
    assert outside == [], f"{where} tried to reach the network: {outside}"
    assert errors == [], f"{where}: console errors: {errors}"
    assert found["rawTables"] == [], f"{where}: Markdown tables left as text: {found['rawTables']}"
    assert found["unrendered"] == [] and found["mathErrors"] == [], \
        f"{where}: math not typeset: {found['unrendered']}, MathJax errors: {found['mathErrors']}"
    assert found["wide"] == [], f"{where}: display equations wider than the column: {found['wide']}"
    assert found["broken"] == [], f"{where}: images that did not load: {found['broken']}"
    assert found["noAlt"] == [], f"{where}: images without alt text: {found['noAlt']}"
    for fig in found["figures"]:
        assert re.match(r"Fig\. \d+", fig["caption"]), f"{where}: figure {fig['id']!r} has no numbered caption: {fig}"
        assert fig["loaded"], f"{where}: figure {fig['id']!r} shows no loaded image"
    assert found["unlabelled"] == [], f"{where}: widget cells without the '{RUNS_IN_JUPYTER}' label: {found['unlabelled']}"
    if name in METHOD_CHAPTERS:
        ids = [f["id"] for f in found["figures"]]
        assert f"fig-{name.replace('_', '-')}-architecture" in ids, f"{where}: no architecture figure among {ids}"
        assert found["tables"] >= 1 and found["math"] >= 5


def test_widget_fonts_and_shims_are_served(built_book):
    """The files the pages ask for exist in the build: the widget manager's Font Awesome files
    (beside embed-amd.js, its public path) and the book's MathJax 2 shim and CSS."""
    static = built_book / "html/_static"
    embed = (static / "embed-amd.js").read_text(errors="replace")
    fonts = sorted(set(re.findall(r"[0-9a-f]{20}\.(?:woff2|woff|ttf|eot)", embed)))
    assert fonts, "embed-amd.js names no font files: has the widget manager changed?"
    missing = [f for f in fonts if not (static / f).is_file()]
    assert missing == [], f"font files the widget CSS asks for are missing from _static: {missing}"
    page = (built_book / "html/book/intro.html").read_text()
    assert "mathjax2-shim.js" in page and "book.css" in page
    assert (static / "mathjax2-shim.js").is_file() and (static / "book.css").is_file()


def test_method_chapters_show_an_architecture_figure_with_caption_and_alt():
    """Each method chapter draws its architecture from the model (`architecture_figure`) in a
    cell whose metadata gives the figure a name, a caption and alt text (MyST-NB renders it as a
    numbered figure)."""
    for name in METHOD_CHAPTERS:
        cells = json.loads((ROOT / "book" / f"{name}.ipynb").read_text())["cells"]
        arch = [c for c in cells if c["cell_type"] == "code" and "architecture_figure(" in "".join(c["source"])]
        assert len(arch) == 1, f"{name}.ipynb: {len(arch)} architecture cells"
        meta = arch[0]["metadata"].get("mystnb", {})
        assert meta.get("figure", {}).get("name") == f"fig-{name.replace('_', '-')}-architecture"
        assert len(meta["figure"].get("caption", "")) > 80 and len(meta.get("image", {}).get("alt", "")) > 80


def test_figure_names_are_unique_and_every_captioned_cell_shows_one_figure():
    """Sphinx labels are global: a repeated figure name would be a build warning (an error
    with -W). A caption applies to every display output of its cell, so a captioned cell must
    show exactly one thing (no display() calls, no plt.show())."""
    seen = {}
    for nb in book_notebooks():
        for c in json.loads(nb.read_text())["cells"]:
            fig = c.get("metadata", {}).get("mystnb", {}).get("figure")
            if not fig:
                continue
            assert fig.get("name") and fig["name"] not in seen, f"{nb.name}: figure name {fig.get('name')!r} repeated"
            seen[fig["name"]] = nb.name
            src = "".join(c["source"])
            assert "display(" not in src and "plt.show" not in src, f"{nb.name}: {fig['name']} shows more than one output"
            assert c["metadata"]["mystnb"].get("image", {}).get("alt"), f"{nb.name}: {fig['name']} has no alt text"
