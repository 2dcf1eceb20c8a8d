"""The playground page: every reference model, exported to ONNX and embedded in the page's
scripts, fills a hole painted with the mouse in a real Chromium, from disk with the network
blocked and over HTTP; the build checks each ONNX file against PyTorch."""
import base64
import functools
import http.server
import json
import os
import re
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from inpaintlib import playground as pgb

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "book/_js/node_modules"
SCREENSHOTS = ROOT / "_build/screenshots"

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def read_js_json(path: Path, var: str):
    """The JSON value a generated script assigns to ``window.<var>``."""
    text = path.read_text()
    m = re.match(rf"window\.{var} = (.*);\s*$", text, re.S)
    assert m, f"{path} does not assign window.{var}"
    return json.loads(m.group(1))


def page_markup() -> str:
    """The playground's HTML as book/playground.md holds it (the raw HTML lines)."""
    lines = [ln for ln in (ROOT / "book/playground.md").read_text().splitlines()
             if ln.startswith(("<link", "<div id=\"inpaint-playground\"", "<script"))]
    assert len(lines) == 3, f"book/playground.md: expected the stylesheet, the container and the script, got {lines}"
    return "\n".join(lines)


EMBED_LINES = ("<link", "<div class=\"inpaint-playground\"", "<script")
STYLESHEET = '<link rel="stylesheet" href="../_static/playground.css">'
SCRIPT = '<script src="../_static/playground.js"></script>'


def notebook_markup(notebook: str, heading: str) -> list:
    """The raw HTML lines of the one markdown cell of book/<notebook>.ipynb that holds ``heading``."""
    nb = json.loads((ROOT / f"book/{notebook}.ipynb").read_text(encoding="utf-8"))
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown" and heading in "".join(c["source"])]
    assert len(cells) == 1, f"book/{notebook}.ipynb: {len(cells)} markdown cells hold {heading!r}"
    return [ln for ln in cells[0].splitlines() if ln.startswith(EMBED_LINES)]


def chapter_markup(method: str) -> str:
    """The compact playground as the method's chapter holds it (its "Try it in the page" cell)."""
    lines = notebook_markup(method, "Try it in the page")
    assert len(lines) == 3 and lines[0] == STYLESHEET and lines[2] == SCRIPT, \
        f"book/{method}.ipynb: expected the stylesheet, the container and the script, got {lines}"
    assert re.fullmatch(rf'<div class="inpaint-playground" data-methods="{method}" data-compact="true">.*</div>', lines[1]), lines[1]
    return "\n".join(lines)


def intro_markup() -> str:
    """The intro's live explorer and mask gallery as book/intro.ipynb holds them (the script once)."""
    explorer = notebook_markup("intro", "## Try it: the inpainting explorer")
    gallery = notebook_markup("intro", "### Mask gallery")
    assert len(explorer) == 3 and explorer[0] == STYLESHEET and explorer[2] == SCRIPT, explorer
    assert explorer[1].startswith('<div class="inpaint-playground" data-mode="explorer">'), explorer
    assert len(gallery) == 1 and gallery[0].startswith('<div class="inpaint-playground" data-mode="masks">'), gallery
    assert (ROOT / "book/intro.ipynb").read_text(encoding="utf-8").count("playground.js") == 1
    return "\n".join(explorer + ["<p>(the ipywidgets explorer)</p>"] + gallery)


def write_page(path: Path, body: str, amd: bool = False) -> None:
    """A page of the standalone site; ``amd``: require.js first, as the chapters with widgets have it."""
    head = "<script src='../_static/require.js'></script>" if amd else ""
    path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{path.stem}</title>{head}</head>"
                    f"<body><main><p>{path.stem}</p>{body}</main></body></html>")


def test_every_method_chapter_and_the_intro_embed_the_playground():
    for method in pgb.METHODS:
        chapter_markup(method)
    intro_markup()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The playground built on its own, laid out as in the book: book/playground.html, the method
    chapters' compact versions (book/<method>.html) and the intro's explorer (book/intro.html)
    beside _static/ (playground.js, playground.css and the generated playground/ folder)."""
    if not (NODE_MODULES / "onnxruntime-web/dist" / pgb.ORT_FILES[-1]).is_file():
        reason = "onnxruntime-web is not installed in book/_js/node_modules (`make js` installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("playground")
    static = out / "_static"
    manifest = pgb.build(static / "playground", NODE_MODULES, log=lambda *_: None)
    for name in ("playground.js", "playground.css"):
        shutil.copyfile(ROOT / "book/_static" / name, static / name)
    (out / "book").mkdir()
    (out / "book/playground.html").write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>playground</title></head>"
        f"<body><main>{page_markup()}</main></body></html>")
    amd = (ROOT / "book/_widgets_js/require.js").is_file()     # the chapters and the intro load require.js
    if amd:
        shutil.copyfile(ROOT / "book/_widgets_js/require.js", static / "require.js")
    for method in pgb.METHODS:
        write_page(out / f"book/{method}.html", chapter_markup(method), amd)
    write_page(out / "book/intro.html", intro_markup(), amd)
    return out, manifest


def test_build_exports_every_reference_model_close_to_pytorch(site):
    out, manifest = site
    assert read_js_json(out / "_static/playground/manifest.js", "PLAYGROUND_MANIFEST") == manifest
    assert [m["name"] for m in manifest["methods"]] == list(pgb.METHODS)
    assert manifest["ort"]["status"] == "ok", manifest["ort"]
    total = 0
    for m in manifest["methods"]:
        assert m["status"] == "ok", f"{m['name']}: {m['reason']}"
        assert 0 <= m["max_abs_diff"] <= pgb.TOLERANCE
        text = (out / "_static/playground" / m["file"]).read_text()
        data = base64.b64decode(re.search(r'\] = "([A-Za-z0-9+/=]+)";', text).group(1))
        assert len(data) == m["bytes"]
        proto = onnx.load_from_string(data)
        assert [i.name for i in proto.graph.input] == m["inputs"]
        kinds = {(i.data_type, int(np.prod(i.dims)) >= 16) for i in proto.graph.initializer}
        assert (onnx.TensorProto.FLOAT, True) not in kinds, f"{m['name']}: float32 weights left in the file"
        assert (onnx.TensorProto.FLOAT16, True) in kinds
        total += len(data)
    assert total < 16e6, f"the models take {total / 1e6:.1f} MB"
    assert len(manifest["samples"]) >= 3
    assert all(s["src"].startswith("data:image/png;base64,") for s in manifest["samples"])


def test_a_missing_model_is_listed_unavailable_with_its_reason(tmp_path):
    empty = tmp_path / "no-models"
    empty.mkdir()
    manifest = pgb.build(tmp_path / "out", node_modules=None, methods=["pconv"], root=empty, log=lambda *_: None)
    (rec,) = manifest["methods"]
    assert rec["status"] == "unavailable" and "missing" in rec["reason"] and str(empty) in rec["reason"]
    assert manifest["ort"]["status"] == "unavailable" and manifest["ort"]["reason"]
    assert not list((tmp_path / "out").glob("model-*.js"))


def test_half_precision_weights_keep_the_graph_in_float32(tmp_path):
    import torch

    from inpaintlib import export as ex
    from inpaintlib.registry import build_model

    torch.manual_seed(0)
    model = build_model("pconv", layers=3, width=0.0625).eval()
    path = ex.export_model(model, tmp_path / "m.onnx", "onnx", size=32, onnx_exporter="legacy")
    onnx.save_model(pgb.half_precision_weights(onnx.load_model(str(path))), str(path))
    inputs = ex.example_inputs(model, 32, seed=5)
    got = ex.run_exported(path, *inputs)
    with torch.no_grad():           # the same model with its weights rounded to half precision
        for p in model.parameters():
            p.copy_(p.half().float())
    want = ex.eager_output(model, inputs)
    assert got.dtype == torch.float32
    assert (got - want).abs().max() <= 1e-4      # float32 rounding of a different op order


# ------------------------------------------------------------------ in the browser

CHECK = """
(before) => {
  const pg = window.inpaintPlayground, st = pg.state, N = st.N, NN = N * N, out = {};
  for (const m of st.methods) {
    const r = st.results[m.name], info = document.querySelector(`[data-method="${m.name}"] .pg-info`).textContent;
    if (!r) { out[m.name] = {missing: true, info}; continue; }
    let knownDiff = 0, holeErr = 0, blackErr = 0, holes = 0, changed = 0, lo = 1, hi = 0;
    for (let c = 0; c < 3; c++) for (let i = 0; i < NN; i++) {
      const v = r.composite[c * NN + i], t = st.truth[c * NN + i];
      if (before) changed += Math.abs(v - before[m.name][c * NN + i]);
      if (r.hole[i]) { holeErr += Math.abs(v - t); blackErr += Math.abs(t); holes++; lo = Math.min(lo, v); hi = Math.max(hi, v); }
      else knownDiff = Math.max(knownDiff, Math.abs(v - st.image[c * NN + i]));
    }
    out[m.name] = {knownDiff, holeErr: holeErr / holes, blackErr: blackErr / holes, spread: hi - lo,
                   changed: changed / (3 * NN), ms: r.ms, info, state: document.querySelector(`[data-method="${m.name}"]`).dataset.state};
  }
  return out;
}
"""

SNAPSHOT = """() => Object.fromEntries(Object.entries(window.inpaintPlayground.state.results)
                                  .map(([k, r]) => [k, Array.from(r.composite)]))"""


def open_guarded(browser, url: str, allowed: tuple):
    """``url`` in a fresh context where only URLs starting with ``allowed`` load; returns
    ``(context, page, outside, errors, requests)``: the blocked URLs, console errors and
    uncaught exceptions, and every request the page made."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    outside, errors, requests = [], [], []

    def guard(route):
        if route.request.url.startswith(allowed):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.goto(url, wait_until="load")
    return context, page, outside, errors, requests


def open_page(browser, url: str, allowed: tuple):
    context, page, outside, errors, _ = open_guarded(browser, url, allowed)
    page.wait_for_selector("#inpaint-playground[data-ready=true]", timeout=240_000)
    return context, page, outside, errors


def draw_stroke_and_check(page, methods, shot: Path):
    """Draw one stroke with the mouse; every method refills; check what each shows."""
    runs = page.evaluate("window.inpaintPlayground.state.runs")
    ratio_before = page.evaluate("window.inpaintPlayground.state.hole.reduce((a, b) => a + b, 0)")
    before = page.evaluate(SNAPSHOT)
    box = page.locator("canvas.pg-input").bounding_box()
    x0, y0, x1, y1 = box["x"] + 0.55 * box["width"], box["y"] + 0.60 * box["height"], \
        box["x"] + 0.90 * box["width"], box["y"] + 0.85 * box["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(x0 + (x1 - x0) * k / 10, y0 + (y1 - y0) * k / 10)
    page.mouse.up()
    page.wait_for_function(f"() => window.inpaintPlayground.state.runs > {runs} && !window.inpaintPlayground.state.running",
                           timeout=120_000)
    # the stroke is in the hole: the pixel under its middle, and more hole than before
    n = page.evaluate("window.inpaintPlayground.state.N")
    mid = page.evaluate(f"window.inpaintPlayground.state.hole[{int(0.725 * n) * n + int(0.725 * n)}]")
    assert mid == 1
    assert page.evaluate("window.inpaintPlayground.state.hole.reduce((a, b) => a + b, 0)") > ratio_before
    found = page.evaluate(CHECK, before)
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert set(found) == {"telea", *methods}
    for name, r in found.items():
        where = f"{name} (screenshot {shot})"
        assert not r.get("missing"), f"{where}: no result ({r['info']})"
        assert r["state"] == "done", f"{where}: state {r['state']}"
        assert r["changed"] > 1e-4, f"{where}: output unchanged by the stroke"
        assert r["knownDiff"] == 0, f"{where}: known pixels changed in the composite by {r['knownDiff']}"
        assert r["spread"] > 0.05, f"{where}: the hole holds a flat fill"
        assert r["holeErr"] < r["blackErr"], f"{where}: hole no closer to the photo than black ({r})"
        assert re.match(r"\d+ ms · PSNR \d+\.\d+ dB · SSIM 0\.\d+", r["info"]), f"{where}: {r['info']!r}"
        assert r["ms"] > 0
    text = page.inner_text(".pg-ratio")
    assert re.match(r"hole: \d+\.\d % of the pixels", text), text


def test_playground_from_disk_with_the_network_blocked(site, chromium):
    out, manifest = site
    methods = [m["name"] for m in manifest["methods"]]
    context, page, outside, errors = open_page(chromium, (out / "book/playground.html").as_uri(),
                                               ("file://", "data:", "blob:", "about:"))
    try:
        draw_stroke_and_check(page, methods, SCREENSHOTS / "playground-file.png")
        # no method reads the pixels under the hole: other values there, the same fills
        before = page.evaluate(SNAPSHOT)
        page.evaluate("""async () => { const st = window.inpaintPlayground.state, NN = st.N * st.N;
                                       st.image = st.image.map((v, i) => st.hole[i % NN] ? 1 - v : v);
                                       await window.inpaintPlayground.run(); }""")
        page.wait_for_function("() => !window.inpaintPlayground.state.running")
        assert page.evaluate(SNAPSHOT) == before, "pixels under the hole changed a fill"
        # the raw view shows the prediction, the composite view the known pixels
        page.check("input.pg-raw")
        shown = page.evaluate("""() => {
          const st = window.inpaintPlayground.state, r = st.results.pconv, N = st.N;
          const px = document.querySelector('[data-method="pconv"] canvas').getContext('2d').getImageData(0, 0, N, N).data;
          let d = 0; for (let i = 0; i < N * N; i++) d = Math.max(d, Math.abs(px[4 * i] - Math.round(255 * r.raw[i])));
          return d; }""")
        assert shown <= 1
        # another sample-bank photo refills every method with it
        runs = page.evaluate("window.inpaintPlayground.state.runs")
        page.select_option("select.pg-photo", label="chelsea (sample bank, held out)")
        page.wait_for_function(f"() => window.inpaintPlayground.state.runs > {runs} && !window.inpaintPlayground.state.running")
        cat = page.evaluate("window.inpaintPlayground.state.image[0]")
        assert page.evaluate("Object.values(window.inpaintPlayground.state.results).every(r => r.composite[0] === window.inpaintPlayground.state.image[0])")
        assert cat == page.evaluate("window.inpaintPlayground.state.truth[0]")
        # undo removes the stroke and refills
        runs = page.evaluate("window.inpaintPlayground.state.runs")
        page.click("button.pg-undo")
        page.wait_for_function(f"() => window.inpaintPlayground.state.runs > {runs} && !window.inpaintPlayground.state.running")
        n = page.evaluate("window.inpaintPlayground.state.N")
        assert page.evaluate(f"window.inpaintPlayground.state.hole[{int(0.725 * n) * n + int(0.725 * n)}]") == 0
    finally:
        context.close()
    assert outside == [], f"the page tried to reach the network: {outside}"
    assert errors == [], f"console errors: {errors}"


def test_playground_over_http(site, chromium):
    out, manifest = site
    handler = functools.partial(type("Quiet", (http.server.SimpleHTTPRequestHandler,),
                                     {"log_message": lambda *a: None}), directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        context, page, outside, errors = open_page(chromium, base + "book/playground.html", (base, "data:", "blob:", "about:"))
        try:
            draw_stroke_and_check(page, [m["name"] for m in manifest["methods"]], SCREENSHOTS / "playground-http.png")
            # the reader's own photo: every method refills, no scores (no truth to compare with)
            from PIL import Image

            yy, xx = np.mgrid[0:150, 0:200]
            own = np.stack([xx * 255 // 199, yy * 255 // 149, np.full_like(xx, 40)], -1).astype(np.uint8)
            Image.fromarray(own).save(out.parent / "own.png")
            runs = page.evaluate("window.inpaintPlayground.state.runs")
            page.set_input_files("input.pg-file", str(out.parent / "own.png"))
            page.wait_for_function(f"() => window.inpaintPlayground.state.runs > {runs} && !window.inpaintPlayground.state.running",
                                   timeout=120_000)
            assert page.evaluate("window.inpaintPlayground.state.hasTruth") is False
            n = page.evaluate("window.inpaintPlayground.state.N")
            blue = page.evaluate(f"Array.from(window.inpaintPlayground.state.image.subarray({2 * n * n}, {3 * n * n}))")
            assert np.allclose(blue, 40 / 255, atol=2 / 255)      # the image is the reader's photo
            for name in ["telea"] + [m["name"] for m in manifest["methods"]]:
                assert re.fullmatch(r"\d+ ms", page.inner_text(f'[data-method="{name}"] .pg-info')), name
        finally:
            context.close()
    finally:
        server.shutdown()
        server.server_close()
    assert outside == [], f"the page tried to reach beyond its server: {outside}"
    assert errors == [], f"console errors: {errors}"


def test_an_unavailable_model_shows_its_reason(site, chromium, tmp_path):
    out, manifest = site
    copy = tmp_path / "site"
    shutil.copytree(out, copy)
    changed = json.loads(json.dumps(manifest))
    changed["methods"][1].update(status="unavailable", reason="the check found a difference of 1e-2")
    (copy / "_static/playground/manifest.js").write_text("window.PLAYGROUND_MANIFEST = " + json.dumps(changed) + ";\n")
    name = changed["methods"][1]["name"]
    context, page, outside, errors = open_page(chromium, (copy / "book/playground.html").as_uri(),
                                               ("file://", "data:", "blob:", "about:"))
    try:
        card = page.locator(f'[data-method="{name}"]')
        assert card.get_attribute("data-state") == "unavailable"
        assert card.locator(".pg-info").inner_text() == "unavailable: the check found a difference of 1e-2"
        assert name not in page.evaluate("Object.keys(window.inpaintPlayground.state.results)")
        others = [m["name"] for m in changed["methods"] if m["status"] == "ok"]
        assert set(others) <= set(page.evaluate("Object.keys(window.inpaintPlayground.state.results)"))
    finally:
        context.close()
    assert errors == [] and outside == []


def test_javascript_telea_and_canny_follow_opencv_and_scikit_image(site, chromium):
    """The page's ports against the libraries the book uses: scikit-image's Canny (CTSDG's
    edge input) on a held-out photo, and OpenCV's Telea (radius 3) in a hole."""
    import cv2
    from skimage.feature import canny

    from inpaintlib.data.bank import load_sample_photo
    from inpaintlib.data.transforms import center_crop, resize

    out, _ = site
    n = 128
    img = center_crop(resize(load_sample_photo("chelsea"), n), n).clamp(0, 1).numpy().astype(np.float32)
    img = np.round(img * 255) / 255
    hole = np.zeros((n, n), np.uint8)
    hole[40:70, 50:90] = 1
    hole[90:96, 10:120] = 1
    context, page, outside, errors = open_page(chromium, (out / "book/playground.html").as_uri(),
                                               ("file://", "data:", "blob:", "about:"))
    try:
        js = page.evaluate("""([img, hole, n]) => {
            const pg = window.inpaintPlayground, im = Float32Array.from(img), h = Uint8Array.from(hole);
            const known = h.map(v => 1 - v);
            const noisy = im.map((v, i) => h[i % (n * n)] ? Math.random() : v);   // other pixels under the hole
            return {edges: Array.from(pg.canny(im, known, n, 2.0)), telea: Array.from(pg.telea(im, h, n, 3)),
                    teleaNoisy: Array.from(pg.telea(noisy, h, n, 3)), edgesNoisy: Array.from(pg.canny(noisy, known, n, 2.0))};
        }""", [img.ravel().tolist(), hole.ravel().tolist(), n])
    finally:
        context.close()
    assert js["telea"] == js["teleaNoisy"] and js["edges"] == js["edgesNoisy"], "the hole's pixels leak into the fill"
    gray = 0.2125 * img[0] + 0.7154 * img[1] + 0.0721 * img[2]
    want = canny(gray.astype(np.float64), sigma=2.0, mask=hole == 0)
    got = np.array(js["edges"]).reshape(n, n) > 0.5
    assert want.sum() > 100
    agree = (got & want).sum() / max(1, (got | want).sum())
    assert agree > 0.97, f"JS Canny and scikit-image agree on {agree:.1%} of the edge pixels"
    rgb = np.round(img.transpose(1, 2, 0) * 255).astype(np.uint8)
    ref = cv2.inpaint(rgb, hole, 3, cv2.INPAINT_TELEA).astype(np.float32) / 255
    mine = np.array(js["telea"], np.float32).reshape(3, n, n).transpose(1, 2, 0)
    assert np.array_equal(mine[hole == 0], rgb[hole == 0].astype(np.float32) / 255)
    gap = np.abs(mine - ref)[hole == 1].mean()
    spread = np.abs(ref - ref[hole == 1].mean(0))[hole == 1].mean()
    assert gap < 0.2 * spread, f"JS Telea differs from OpenCV's by {gap:.3f} on average in the hole"
    assert errors == [] and outside == []



def open_offline(browser, url: str):
    """A page from disk with every non-file request blocked; every request is recorded."""
    return open_guarded(browser, url, ("file://", "data:", "blob:", "about:"))


def assets_asked(requests) -> set:
    """The generated playground files (manifest, ONNX Runtime, models) the page asked for."""
    return {u.rsplit("/", 1)[-1] for u in requests if "/_static/playground/" in u}


def test_compact_chapter_version_loads_only_on_request(site, chromium):
    """A method chapter's compact playground: nothing heavy before 'Load the live demo', then only
    that method's model; a stroke refills the model and Telea, known pixels stay, times show."""
    out, manifest = site
    method = "pconv"
    context, page, outside, errors, requests = open_offline(chromium, (out / f"book/{method}.html").as_uri())
    try:
        page.wait_for_selector("button.pg-load")
        page.wait_for_timeout(500)
        assert assets_asked(requests) == set(), f"requested before the click: {assets_asked(requests)}"
        assert page.locator(".inpaint-playground canvas").count() == 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "playground-compact-before.png"))
        page.click("button.pg-load")
        page.wait_for_selector(".inpaint-playground[data-ready=true]", timeout=240_000)
        rec = next(m for m in manifest["methods"] if m["name"] == method)
        assert assets_asked(requests) == {"manifest.js", "ort.wasm.min.js", "ort-wasm.js", rec["file"]}
        assert page.locator(".pg-card[data-method]").evaluate_all("cs => cs.map(c => c.dataset.method)") == ["telea", method]
        assert page.locator("table.pg-models, input.pg-raw").count() == 0
        assert re.match(r"ready in \d+\.\d s: ONNX Runtime Web", page.inner_text(".pg-status"))
        draw_stroke_and_check(page, [method], SCREENSHOTS / f"playground-compact-{method}.png")
        # a preset replaces the hole and both methods refill
        runs = page.evaluate("window.inpaintPlayground.state.runs")
        page.click("button[data-preset='dense points']")
        page.wait_for_function(f"() => window.inpaintPlayground.state.runs > {runs} && !window.inpaintPlayground.state.running",
                               timeout=120_000)
        assert page.evaluate("Object.values(window.inpaintPlayground.state.results).every(r => r.hole === undefined || "
                             "r.hole.every((v, i) => v === window.inpaintPlayground.state.hole[i]))")
    finally:
        context.close()
    assert outside == [], f"the page tried to reach the network: {outside}"
    assert errors == [], f"console errors: {errors}"


@pytest.mark.parametrize("method", [m for m in pgb.METHODS if m != "pconv"])
def test_every_chapter_loads_only_its_own_model(site, chromium, method):
    out, manifest = site
    context, page, outside, errors, requests = open_offline(chromium, (out / f"book/{method}.html").as_uri())
    try:
        page.click("button.pg-load")
        page.wait_for_selector(".inpaint-playground[data-ready=true]", timeout=240_000)
        rec = next(m for m in manifest["methods"] if m["name"] == method)
        assert assets_asked(requests) == {"manifest.js", "ort.wasm.min.js", "ort-wasm.js", rec["file"]}
        for name in ("telea", method):
            info = page.inner_text(f'[data-method="{name}"] .pg-info')
            assert re.match(r"\d+ ms · PSNR \d+\.\d+ dB", info), f"{name}: {info!r}"
    finally:
        context.close()
    assert outside == [] and errors == [], (outside, errors)


EXPLORER = """() => {
  const st = window.inpaintPlaygrounds.find(p => p.mode === "explorer").state, r = st.result, N = st.N, NN = N * N;
  let knownDiff = 0;
  for (let c = 0; c < 3; c++) for (let i = 0; i < NN; i++)
    if (!r.hole[i]) knownDiff = Math.max(knownDiff, Math.abs(r.composite[c * NN + i] - st.image[c * NN + i]));
  return {hole: Array.from(r.hole), out: Array.from(r.composite), ratio: r.ratio, knownDiff, runs: st.runs,
          text: document.querySelector("[data-mode=explorer] .pg-scores").textContent};
}"""


def set_range(page, selector: str, value: int) -> None:
    page.eval_on_selector(selector, "(e, v) => { e.value = String(v); e.dispatchEvent(new Event('input', {bubbles: true})); }", value)


def test_intro_explorer_and_mask_gallery_are_live(site, chromium):
    """The intro's explorer in the page: mask kind, hole % and seed each change the hole, Telea's
    fill and the measured hole ratio shown; the gallery follows its sliders; no ONNX Runtime."""
    out, _ = site
    context, page, outside, errors, requests = open_offline(chromium, (out / "book/intro.html").as_uri())
    try:
        page.wait_for_selector("[data-mode=explorer][data-ready=true]", timeout=60_000)
        page.wait_for_selector("[data-mode=masks][data-ready=true]", timeout=60_000)
        prev = page.evaluate(EXPLORER)
        changes = [("kind", lambda: page.select_option("[data-mode=explorer] select.pg-kind", "rectangle"), 30),
                   ("hole %", lambda: set_range(page, "[data-mode=explorer] input.pg-percent", 55), 55),
                   ("seed", lambda: set_range(page, "[data-mode=explorer] input.pg-seed", 7), 55),
                   ("kind", lambda: page.select_option("[data-mode=explorer] select.pg-kind", "dense_points"), 55),
                   ("hole %", lambda: set_range(page, "[data-mode=explorer] input.pg-percent", 10), 10)]
        for what, change, percent in changes:
            change()
            page.wait_for_function(f"() => window.inpaintPlaygrounds.find(p => p.mode === 'explorer').state.runs > {prev['runs']}")
            now = page.evaluate(EXPLORER)
            assert now["hole"] != prev["hole"], f"{what}: the hole did not change"
            assert now["out"] != prev["out"], f"{what}: Telea's fill did not change"
            assert now["text"] != prev["text"], f"{what}: the scores did not change"
            assert now["knownDiff"] == 0
            lo, hi = max(0, percent - 5), percent
            shown = float(re.match(r"hole ratio (\d+\.\d) % \(asked: (\d+)–(\d+) %\) · PSNR \d+\.\d+ dB · SSIM 0\.\d+ · "
                                   r"hole L1 0\.\d+ · Telea \d+ ms in this page$", now["text"]).group(1))
            assert abs(shown - 100 * now["ratio"]) <= 0.051 and lo <= 100 * now["ratio"] <= hi, now["text"]
            prev = now
        # the gallery: nine masks in the asked range, new ones for a new seed
        gallery = "() => window.inpaintPlaygrounds.find(p => p.mode === 'masks').state.masks.map(m => [m.kind, m.ratio, Array.from(m.hole)])"
        before = page.evaluate(gallery)
        set_range(page, "[data-mode=masks] input.pg-percent", 40)
        set_range(page, "[data-mode=masks] input.pg-seed", 3)
        after = page.evaluate(gallery)
        assert len(after) == 9 and all(0.35 <= r <= 0.40 for _, r, _ in after), [r for _, r, _ in after]
        assert all(a[2] != b[2] for a, b in zip(after, before))
        assert page.locator("[data-mode=masks] .pg-info").all_inner_texts()[0] == f"{100 * after[0][1]:.1f} % missing"
        # every kind honours a hole-ratio range, as inpaintlib.masks.generate does
        bad = page.evaluate("""() => { const pg = window.inpaintPlayground, bad = [];
          for (const kind of Object.keys(pg.kinds)) for (const [lo, hi] of [[0, 0.05], [0.2, 0.4], [0.55, 0.6], [0.1, 0.6]])
            for (let seed = 0; seed < 5; seed++) {
              const h = pg.generate(kind, 128, [lo, hi], seed), r = h.reduce((a, b) => a + b, 0) / h.length;
              if (r < lo || r > hi || r === 0) bad.push([kind, lo, hi, seed, r]); }
          return bad; }""")
        assert bad == []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "intro-explorer.png"), full_page=True)
    finally:
        context.close()
    assert assets_asked(requests) == {"manifest.js"}, assets_asked(requests)
    assert outside == [], f"the page tried to reach the network: {outside}"
    assert errors == [], f"console errors: {errors}"
