/* The Inpainting Book's playground: paint a hole on a photo and every method fills it, in the page.
 *
 * The reference models run in ONNX Runtime Web (WebAssembly, one thread); Telea's fast-marching
 * fill is ported to JavaScript below (after OpenCV's cv::inpaint, INPAINT_TELEA) and CTSDG's
 * edge input is scikit-image's Canny, also ported below. Everything arrives through <script>
 * tags (the book is read from disk, where fetch() of local files is refused): the assets that
 * `python -m inpaintlib.playground` writes to _static/playground/ (manifest.js, model-*.js with
 * the ONNX files as base64, ort.wasm.min.js and ort-wasm.js with the WebAssembly binary).
 *
 * One script serves every container on a page (class "inpaint-playground", or the id
 * "inpaint-playground" of the playground page):
 *   <div id="inpaint-playground">                 the full playground: every method, started at once;
 *   <div class="inpaint-playground" data-methods="pconv" data-compact="true">
 *                                                 a method chapter's compact version: that method and
 *                                                 Telea; nothing is loaded until "Load the live demo";
 *   <div class="inpaint-playground" data-mode="explorer">
 *                                                 the intro's explorer: a generated mask (kind, hole %,
 *                                                 seed) filled by Telea, with scores (no ONNX Runtime);
 *   <div class="inpaint-playground" data-mode="masks">
 *                                                 the intro's mask gallery (three masks of each kind).
 *
 * Conventions as in inpaintlib: images are planar float arrays (3×N×N) in [0, 1]; the hole is
 * 1 where a pixel is missing; a model's output is its raw prediction, the composite pastes the
 * known pixels back. window.inpaintPlayground holds the ports (telea, canny, psnr, ssim, masks)
 * and the first container's state; window.inpaintPlaygrounds lists every container's (for the
 * browser tests).
 */
(function () {
  "use strict";
  if (window.inpaintPlaygrounds) return;      // the script twice on one page: the first one serves
  const script = document.currentScript;
  const ASSETS = new URL("playground/", script ? script.src : location.href).href;
  const api = window.inpaintPlayground = {};
  const instances = window.inpaintPlaygrounds = [];

  const loading = {};
  function loadScript(src) {      // each script once per page, however many containers ask for it
    if (!loading[src]) loading[src] = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      s.onload = () => resolve();
      s.onerror = () => { delete loading[src]; reject(new Error("could not load " + src)); };
      document.head.appendChild(s);
    });
    return loading[src];
  }
  function bytesOf(b64) {
    const bin = atob(b64), out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }

  // ------------------------------------------------------------------ images
  function planarFromRGBA(data, n) {
    const out = new Float32Array(3 * n * n);
    for (let i = 0; i < n * n; i++) for (let c = 0; c < 3; c++) out[c * n * n + i] = data[4 * i + c] / 255;
    return out;
  }
  function drawPlanar(canvas, img, n, hole) {
    const ctx = canvas.getContext("2d"), id = ctx.createImageData(n, n), tint = [1.0, 0.25, 0.6];
    for (let i = 0; i < n * n; i++) {
      for (let c = 0; c < 3; c++) {
        let v = img[c * n * n + i];
        if (hole && hole[i]) v = 0.35 * v + 0.65 * tint[c];
        id.data[4 * i + c] = Math.round(255 * Math.min(1, Math.max(0, v)));
      }
      id.data[4 * i + 3] = 255;
    }
    ctx.putImageData(id, 0, 0);
  }
  // Box average by an integer factor (the model is smaller than the working image).
  function shrink(src, ch, n, m) {
    const f = n / m, out = new Float32Array(ch * m * m);
    for (let c = 0; c < ch; c++) for (let y = 0; y < m; y++) for (let x = 0; x < m; x++) {
      let s = 0;
      for (let dy = 0; dy < f; dy++) for (let dx = 0; dx < f; dx++) s += src[c * n * n + (y * f + dy) * n + x * f + dx];
      out[c * m * m + y * m + x] = s / (f * f);
    }
    return out;
  }
  // Bilinear resampling, half-pixel centres (PyTorch's align_corners=False).
  function bilinear(src, ch, n, m) {
    const out = new Float32Array(ch * m * m), r = n / m;
    for (let y = 0; y < m; y++) {
      const sy = Math.min(n - 1, Math.max(0, (y + 0.5) * r - 0.5)), y0 = Math.floor(sy), y1 = Math.min(n - 1, y0 + 1), wy = sy - y0;
      for (let x = 0; x < m; x++) {
        const sx = Math.min(n - 1, Math.max(0, (x + 0.5) * r - 0.5)), x0 = Math.floor(sx), x1 = Math.min(n - 1, x0 + 1), wx = sx - x0;
        for (let c = 0; c < ch; c++) {
          const b = c * n * n;
          out[c * m * m + y * m + x] = (1 - wy) * ((1 - wx) * src[b + y0 * n + x0] + wx * src[b + y0 * n + x1]) +
                                       wy * ((1 - wx) * src[b + y1 * n + x0] + wx * src[b + y1 * n + x1]);
        }
      }
    }
    return out;
  }
  function resizeImage(src, n, m) {
    if (n === m) return src;
    return (n % m === 0) ? shrink(src, 3, n, m) : bilinear(src, 3, n, m);
  }
  // A model-size hole: a pixel is missing if any working pixel it covers is (inpaintlib.inference).
  function resizeHole(hole, n, m) {
    if (n === m) return Float32Array.from(hole);
    const out = new Float32Array(m * m), r = n / m;
    for (let y = 0; y < m; y++) for (let x = 0; x < m; x++) {
      const ya = Math.floor(y * r), yb = Math.max(ya + 1, Math.ceil((y + 1) * r));
      const xa = Math.floor(x * r), xb = Math.max(xa + 1, Math.ceil((x + 1) * r));
      let any = 0;
      for (let yy = ya; yy < yb && !any; yy++) for (let xx = xa; xx < xb; xx++) if (hole[yy * n + xx]) { any = 1; break; }
      out[y * m + x] = any;
    }
    return out;
  }

  // ------------------------------------------------------------------ Telea (OpenCV's INPAINT_TELEA)
  const KNOWN = 0, BAND = 1, INSIDE = 2;
  function telea(img, hole, n, radius) {
    const NN = n * n, out = new Float32Array(3 * NN), flag = new Uint8Array(NN), T = new Float32Array(NN);
    for (let i = 0; i < 3 * NN; i++) out[i] = hole[i % NN] ? 0 : Math.round(255 * img[i]);   // never read the hole
    for (let i = 0; i < NN; i++) { flag[i] = hole[i] ? INSIDE : KNOWN; T[i] = hole[i] ? 1e6 : 0; }
    const heap = [];   // binary min-heap of [T, index]
    const push = (t, i) => {
      heap.push([t, i]);
      let k = heap.length - 1;
      while (k > 0) { const p = (k - 1) >> 1; if (heap[p][0] <= heap[k][0]) break; [heap[p], heap[k]] = [heap[k], heap[p]]; k = p; }
    };
    const pop = () => {
      const top = heap[0], last = heap.pop();
      if (heap.length) {
        heap[0] = last;
        let k = 0;
        for (;;) {
          const a = 2 * k + 1, b = a + 1;
          let m = k;
          if (a < heap.length && heap[a][0] < heap[m][0]) m = a;
          if (b < heap.length && heap[b][0] < heap[m][0]) m = b;
          if (m === k) break;
          [heap[m], heap[k]] = [heap[k], heap[m]]; k = m;
        }
      }
      return top;
    };
    const f = (y, x) => (y < 0 || x < 0 || y >= n || x >= n) ? INSIDE : flag[y * n + x];
    const t = (y, x) => (y < 0 || x < 0 || y >= n || x >= n) ? 1e6 : T[y * n + x];
    const solve = (y1, x1, y2, x2) => {
      const a = t(y1, x1), b = t(y2, x2), m = Math.min(a, b);
      if (f(y1, x1) !== INSIDE) {
        if (f(y2, x2) !== INSIDE) return Math.abs(a - b) >= 1 ? 1 + m : (a + b + Math.sqrt(2 - (a - b) * (a - b))) * 0.5;
        return 1 + a;
      }
      return f(y2, x2) !== INSIDE ? 1 + b : 1 + m;
    };
    // the band: known pixels next to the hole
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
      if (flag[y * n + x] !== KNOWN) continue;
      if (f(y - 1, x) === INSIDE && y > 0 || f(y + 1, x) === INSIDE && y < n - 1 ||
          f(y, x - 1) === INSIDE && x > 0 || f(y, x + 1) === INSIDE && x < n - 1) { flag[y * n + x] = BAND; push(0, y * n + x); }
    }
    const I = (c, y, x) => out[c * NN + y * n + x];
    const fill = (i, j) => {
      let gtx = 0, gty = 0;
      if (f(i, j + 1) !== INSIDE) gtx = f(i, j - 1) !== INSIDE ? (t(i, j + 1) - t(i, j - 1)) * 0.5 : t(i, j + 1) - t(i, j);
      else if (f(i, j - 1) !== INSIDE) gtx = t(i, j) - t(i, j - 1);
      if (f(i + 1, j) !== INSIDE) gty = f(i - 1, j) !== INSIDE ? (t(i + 1, j) - t(i - 1, j)) * 0.5 : t(i + 1, j) - t(i, j);
      else if (f(i - 1, j) !== INSIDE) gty = t(i, j) - t(i - 1, j);
      for (let c = 0; c < 3; c++) {
        let Ia = 0, Jx = 0, Jy = 0, s = 1e-20;
        for (let k = i - radius; k <= i + radius; k++) for (let l = j - radius; l <= j + radius; l++) {
          if (k < 0 || l < 0 || k >= n || l >= n || f(k, l) === INSIDE) continue;
          const ry = i - k, rx = j - l, r2 = rx * rx + ry * ry;
          if (r2 > radius * radius || r2 === 0) continue;
          const dst = 1 / (r2 * Math.sqrt(r2)), lev = 1 / (1 + Math.abs(T[k * n + l] - T[i * n + j]));
          let dir = rx * gtx + ry * gty;
          if (Math.abs(dir) <= 0.01) dir = 1e-6;
          const w = Math.abs(dst * lev * dir);
          let gx = 0, gy = 0;
          if (f(k, l + 1) !== INSIDE) gx = f(k, l - 1) !== INSIDE ? (I(c, k, l + 1) - I(c, k, l - 1)) * 2 : I(c, k, l + 1) - I(c, k, l);
          else if (f(k, l - 1) !== INSIDE) gx = I(c, k, l) - I(c, k, l - 1);
          if (f(k + 1, l) !== INSIDE) gy = f(k - 1, l) !== INSIDE ? (I(c, k + 1, l) - I(c, k - 1, l)) * 2 : I(c, k + 1, l) - I(c, k, l);
          else if (f(k - 1, l) !== INSIDE) gy = I(c, k, l) - I(c, k - 1, l);
          Ia += w * I(c, k, l); Jx -= w * gx * rx; Jy -= w * gy * ry; s += w;
        }
        const v = Ia / s + (Jx + Jy) / (Math.sqrt(Jx * Jx + Jy * Jy) + 1e-20) + 0.5;
        out[c * NN + i * n + j] = Math.min(255, Math.max(0, Math.floor(v)));
      }
    };
    while (heap.length) {
      const [, p] = pop();
      const i = Math.floor(p / n), j = p % n;
      flag[p] = KNOWN;
      for (const [k, l] of [[i - 1, j], [i, j - 1], [i + 1, j], [i, j + 1]]) {
        if (k < 0 || l < 0 || k >= n || l >= n || flag[k * n + l] !== INSIDE) continue;
        const d = Math.min(solve(k - 1, l, k, l - 1), solve(k + 1, l, k, l - 1), solve(k - 1, l, k, l + 1), solve(k + 1, l, k, l + 1));
        T[k * n + l] = d;
        fill(k, l);
        flag[k * n + l] = BAND;
        push(d, k * n + l);
      }
    }
    for (let i = 0; i < 3 * NN; i++) out[i] /= 255;
    return out;
  }

  // ------------------------------------------------------------------ Canny (scikit-image's, with a mask)
  function gaussian1d(sigma) {
    const r = Math.floor(4 * sigma + 0.5), k = new Float64Array(2 * r + 1);
    let s = 0;
    for (let i = -r; i <= r; i++) { k[i + r] = Math.exp(-0.5 * i * i / (sigma * sigma)); s += k[i + r]; }
    for (let i = 0; i < k.length; i++) k[i] /= s;
    return k;
  }
  function blur(src, n, k) {   // separable, zero outside the image (mode="constant")
    const r = (k.length - 1) / 2, tmp = new Float64Array(n * n), out = new Float64Array(n * n);
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
      let s = 0;
      for (let d = -r; d <= r; d++) { const xx = x + d; if (xx >= 0 && xx < n) s += k[d + r] * src[y * n + xx]; }
      tmp[y * n + x] = s;
    }
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
      let s = 0;
      for (let d = -r; d <= r; d++) { const yy = y + d; if (yy >= 0 && yy < n) s += k[d + r] * tmp[yy * n + x]; }
      out[y * n + x] = s;
    }
    return out;
  }
  function canny(img, known, n, sigma, low, high) {
    low = low === undefined ? 0.1 : low; high = high === undefined ? 0.2 : high;
    const NN = n * n, gray = new Float64Array(NN), mask = new Float64Array(NN);
    for (let i = 0; i < NN; i++) {
      mask[i] = known[i] ? 1 : 0;
      gray[i] = mask[i] * (0.2125 * img[i] + 0.7154 * img[NN + i] + 0.0721 * img[2 * NN + i]);
    }
    const k = gaussian1d(sigma), num = blur(gray, n, k), den = blur(mask, n, k), sm = new Float64Array(NN);
    for (let i = 0; i < NN; i++) sm[i] = num[i] / (den[i] + 2.220446049250313e-16);
    const at = (y, x) => sm[Math.min(n - 1, Math.max(0, y)) * n + Math.min(n - 1, Math.max(0, x))];  // ndimage: mode="reflect" (edge repeat for one pixel)
    const gi = new Float64Array(NN), gj = new Float64Array(NN), mag = new Float64Array(NN);
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
      const j = (at(y - 1, x + 1) - at(y - 1, x - 1)) + 2 * (at(y, x + 1) - at(y, x - 1)) + (at(y + 1, x + 1) - at(y + 1, x - 1));
      const i = (at(y + 1, x - 1) - at(y - 1, x - 1)) + 2 * (at(y + 1, x) - at(y - 1, x)) + (at(y + 1, x + 1) - at(y - 1, x + 1));
      gi[y * n + x] = i; gj[y * n + x] = j; mag[y * n + x] = Math.hypot(i, j);
    }
    const eroded = new Uint8Array(NN);
    for (let y = 1; y < n - 1; y++) for (let x = 1; x < n - 1; x++) {
      let all = 1;
      for (let dy = -1; dy <= 1 && all; dy++) for (let dx = -1; dx <= 1; dx++) if (!mask[(y + dy) * n + x + dx]) { all = 0; break; }
      eroded[y * n + x] = all;
    }
    const M = (y, x) => mag[y * n + x], nms = new Float64Array(NN);
    for (let y = 1; y < n - 1; y++) for (let x = 1; x < n - 1; x++) {
      const p = y * n + x, m = mag[p];
      if (!eroded[p] || m < low) continue;
      const is = gi[p], js = gj[p], ai = Math.abs(is), aj = Math.abs(js);
      const up = is >= 0, down = is <= 0, right = js >= 0, left = js <= 0;
      let keep = false;
      if ((up && right) || (down && left)) {
        let w, a1, a2, b1, b2;
        if (ai > aj) { w = aj / ai; a1 = M(y + 1, x); a2 = M(y + 1, x + 1); b1 = M(y - 1, x); b2 = M(y - 1, x - 1); }
        else { w = ai / aj; a1 = M(y, x + 1); a2 = M(y + 1, x + 1); b1 = M(y, x - 1); b2 = M(y - 1, x - 1); }
        if (m >= a2 * w + a1 * (1 - w) && m >= b2 * w + b1 * (1 - w)) keep = true;
      }
      if (!keep && ((down && right) || (up && left))) {
        let w, a1, a2, b1, b2;
        if (ai > aj) { w = aj / ai; a1 = M(y + 1, x); a2 = M(y + 1, x - 1); b1 = M(y - 1, x); b2 = M(y - 1, x + 1); }
        else { w = ai / aj; a1 = M(y, x - 1); a2 = M(y + 1, x - 1); b1 = M(y, x + 1); b2 = M(y - 1, x + 1); }
        if (m >= a2 * w + a1 * (1 - w) && m >= b2 * w + b1 * (1 - w)) keep = true;
      }
      if (keep) nms[p] = m;
    }
    // hysteresis: keep 8-connected weak-edge components that hold a strong edge
    const out = new Float32Array(NN), seen = new Uint8Array(NN);
    for (let p = 0; p < NN; p++) {
      if (seen[p] || nms[p] < high || nms[p] === 0) continue;
      const stack = [p]; seen[p] = 1;
      while (stack.length) {
        const q = stack.pop(), y = Math.floor(q / n), x = q % n;
        out[q] = 1;
        for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy, xx = x + dx, r = yy * n + xx;
          if (yy < 0 || xx < 0 || yy >= n || xx >= n || seen[r] || nms[r] < low || nms[r] === 0) continue;
          seen[r] = 1; stack.push(r);
        }
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ metrics (inpaintlib.metrics)
  function psnr(a, b) {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
    return s === 0 ? Infinity : 10 * Math.log10(1 / (s / a.length));
  }
  function ssim(a, b, n) {   // Gaussian window 11, sigma 1.5, valid positions, mean over channels
    const k = [], r = 5;
    let ks = 0;
    for (let i = -r; i <= r; i++) { k.push(Math.exp(-0.5 * i * i / 2.25)); ks += k[k.length - 1]; }
    for (let i = 0; i < k.length; i++) k[i] /= ks;
    const m = n - 2 * r, C1 = 0.01 ** 2, C2 = 0.03 ** 2;
    const filt = (src) => {
      const tmp = new Float64Array(n * m), out = new Float64Array(m * m);
      for (let y = 0; y < n; y++) for (let x = 0; x < m; x++) { let s = 0; for (let d = 0; d < 11; d++) s += k[d] * src[y * n + x + d]; tmp[y * m + x] = s; }
      for (let y = 0; y < m; y++) for (let x = 0; x < m; x++) { let s = 0; for (let d = 0; d < 11; d++) s += k[d] * tmp[(y + d) * m + x]; out[y * m + x] = s; }
      return out;
    };
    let total = 0;
    for (let c = 0; c < 3; c++) {
      const x = a.subarray(c * n * n, (c + 1) * n * n), y = b.subarray(c * n * n, (c + 1) * n * n);
      const xx = new Float64Array(n * n), yy = new Float64Array(n * n), xy = new Float64Array(n * n);
      for (let i = 0; i < n * n; i++) { xx[i] = x[i] * x[i]; yy[i] = y[i] * y[i]; xy[i] = x[i] * y[i]; }
      const mx = filt(x), my = filt(y), sxx = filt(xx), syy = filt(yy), sxy = filt(xy);
      let s = 0;
      for (let i = 0; i < m * m; i++) {
        const vx = sxx[i] - mx[i] * mx[i], vy = syy[i] - my[i] * my[i], cxy = sxy[i] - mx[i] * my[i];
        s += ((2 * mx[i] * my[i] + C1) * (2 * cxy + C2)) / ((mx[i] ** 2 + my[i] ** 2 + C1) * (vx + vy + C2));
      }
      total += s / (m * m);
    }
    return total / 3;
  }

  // ------------------------------------------------------------------ masks (after inpaintlib.masks.generate)
  // The same rules as the Python generators at the same sizes (strokes added until the hole count
  // reaches a target drawn in the asked range, overshooting segments dropped and the brush halved;
  // ellipses likewise; a box sized from the ratio), with a different random generator: seed k here
  // is not seed k in Python.
  function rng(seed) {   // mulberry32
    return function () {
      seed |= 0; seed = (seed + 0x6D2B79F5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  const uniform = (R, a, b) => a + (b - a) * R();
  function disc(hole, n, cx, cy, r) {
    for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(n - 1, Math.ceil(cy + r)); y++)
      for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(n - 1, Math.ceil(cx + r)); x++)
        if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) hole[y * n + x] = 1;
  }
  function segment(hole, n, x0, y0, x1, y1, r) {
    const steps = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0) / Math.max(0.5, r / 2)));
    for (let s = 0; s <= steps; s++) disc(hole, n, x0 + (x1 - x0) * s / steps, y0 + (y1 - y0) * s / steps, r);
  }
  // Pixels whose centres lie within r of the segment (masks._capsule); returns how many are new,
  // and sets them when `set`.
  function capsule(hole, n, x0, y0, x1, y1, r, set) {
    r = Math.max(r, 0.5);
    const dx = x1 - x0, dy = y1 - y0, norm = dx * dx + dy * dy;
    let added = 0;
    for (let y = Math.max(0, Math.floor(Math.min(y0, y1) - r)); y <= Math.min(n - 1, Math.ceil(Math.max(y0, y1) + r)); y++)
      for (let x = Math.max(0, Math.floor(Math.min(x0, x1) - r)); x <= Math.min(n - 1, Math.ceil(Math.max(x0, x1) + r)); x++) {
        const t = norm > 0 ? Math.min(1, Math.max(0, ((x - x0) * dx + (y - y0) * dy) / norm)) : 0;
        const ex = x - (x0 + t * dx), ey = y - (y0 + t * dy);
        if (ex * ex + ey * ey > r * r || hole[y * n + x]) continue;
        added++;
        if (set) hole[y * n + x] = 1;
      }
    return added;
  }
  // A filled ellipse (masks._stamp_ellipses: the nearest pixel always counts).
  function ellipse(hole, n, cx, cy, ra, rb, ang, set) {
    const R = Math.ceil(ra), px0 = Math.round(cx), py0 = Math.round(cy), c = Math.cos(ang), s = Math.sin(ang);
    let added = 0;
    for (let dy = -R; dy <= R; dy++) for (let dx = -R; dx <= R; dx++) {
      const px = px0 + dx, py = py0 + dy;
      if (px < 0 || py < 0 || px >= n || py >= n || hole[py * n + px]) continue;
      const vx = px - cx, vy = py - cy, u = (vx * c + vy * s) / ra, v = (vy * c - vx * s) / rb;
      if (u * u + v * v > 1 && (dx || dy)) continue;
      added++;
      if (set) hole[py * n + px] = 1;
    }
    return added;
  }
  const MAX_STEPS = 200000;
  const GENERATORS = {
    free_form(R, n, cLo, cHi) {
      const s = n / 256, hole = new Uint8Array(n * n), target = cLo + Math.floor(R() * (cHi - cLo + 1));
      let count = 0, shrink = 1, steps = 0;
      for (;;) {
        const vertices = 4 + Math.floor(R() * 7), radius = Math.max(1, uniform(R, Math.max(1, 10 * s), Math.max(1, 45 * s)) * shrink) / 2;
        let x = R() * (n - 1), y = R() * (n - 1), heading = 2 * Math.PI * R();
        for (let k = 0; k < vertices - 1; k++) {
          if (++steps > MAX_STEPS) throw new Error("the free-form generator did not reach the asked hole ratio");
          if (k) heading += uniform(R, -6, 6);
          const len = uniform(R, 20 * s, 128 * s) * shrink;
          const nx = Math.min(n - 1, Math.max(0, x + len * Math.cos(heading))), ny = Math.min(n - 1, Math.max(0, y + len * Math.sin(heading)));
          const add = capsule(hole, n, x, y, nx, ny, radius, false);
          if (count + add > cHi) { shrink *= 0.5; break; }
          capsule(hole, n, x, y, nx, ny, radius, true);
          count += add; x = nx; y = ny;
          if (count >= target) return hole;
        }
      }
    },
    dense_points(R, n, cLo, cHi) {
      const s = n / 256, hole = new Uint8Array(n * n), target = cLo + Math.floor(R() * (cHi - cLo + 1));
      const rLo = Math.max(0.5, 2 * s), rHi = Math.max(0.5, 8 * s);
      let count = 0, shrink = 1, steps = 0;
      while (count < target) {
        if (++steps > MAX_STEPS) throw new Error("the dense-points generator did not reach the asked hole ratio");
        const cx = uniform(R, -0.5, n - 0.5), cy = uniform(R, -0.5, n - 0.5), ra = uniform(R, rLo, rHi) * shrink;
        const rb = ra * uniform(R, 0.5, 1), ang = Math.PI * R();
        const add = ellipse(hole, n, cx, cy, ra, rb, ang, false);
        if (count + add > cHi) { shrink *= 0.7; continue; }
        ellipse(hole, n, cx, cy, ra, rb, ang, true);
        count += add;
      }
      return hole;
    },
    rectangle(R, n, cLo, cHi) {
      const hole = new Uint8Array(n * n);
      let bh, bw, dh = 0, dw = 0;
      if (cLo === undefined) {        // GMCNN's box: half the image, each side shrunk by up to 16/256 of it
        bh = bw = Math.floor(n / 2);
        const dmax = Math.floor(Math.round(32 * n / 256) / 2);
        dh = Math.floor(R() * (dmax + 1)); dw = Math.floor(R() * (dmax + 1));
      } else {                        // a box sized from the ratio, aspect 3/4 to 4/3
        const t = uniform(R, cLo, cHi), a = Math.exp(uniform(R, Math.log(0.75), Math.log(4 / 3))), want = Math.sqrt(t * a);
        let best = -1;
        for (let h = 1; h <= n; h++) {
          const wLo = Math.max(1, Math.ceil(cLo / h)), wHi = Math.min(n, Math.floor(cHi / h));
          if (wLo <= wHi && (best < 0 || Math.abs(h - want) < Math.abs(best - want))) best = h;
        }
        if (best < 0) throw new Error(`no rectangle in a ${n}×${n} image has ${cLo}–${cHi} pixels`);
        bh = best;
        bw = Math.min(Math.min(n, Math.floor(cHi / bh)), Math.max(Math.max(1, Math.ceil(cLo / bh)), Math.round(t / bh)));
      }
      const top = Math.floor(R() * (n - bh + 1)), left = Math.floor(R() * (n - bw + 1));
      for (let y = top + dh; y < top + bh - dh; y++) for (let x = left + dw; x < left + bw - dw; x++) hole[y * n + x] = 1;
      return hole;
    },
  };
  //: inpaintlib.masks.DEFAULT_RATIO (a rectangle without a ratio is GMCNN's box).
  const DEFAULT_RATIO = {free_form: [0.1, 0.6], dense_points: [0.1, 0.5], rectangle: null};
  const KIND_LABELS = {free_form: "free-form strokes", rectangle: "rectangle", dense_points: "dense points"};
  // One n×n hole mask of `kind` whose hole ratio lies in ratio = [lo, hi] (null: the kind's default);
  // `seed` is a number or a random function.
  function generate(kind, n, ratio, seed) {
    const R = typeof seed === "function" ? seed : rng(seed), NN = n * n;
    if (ratio === undefined) ratio = DEFAULT_RATIO[kind];
    if (!ratio) return GENERATORS[kind](R, n);
    const cLo = Math.max(1, Math.ceil(ratio[0] * NN - 1e-9)), cHi = Math.floor(ratio[1] * NN + 1e-9);
    if (cLo > cHi) throw new Error(`no ${n}×${n} mask has a hole ratio in ${ratio[0]}–${ratio[1]}`);
    return GENERATORS[kind](R, n, cLo, cHi);
  }
  const PRESETS = {};
  for (const kind of Object.keys(KIND_LABELS)) PRESETS[KIND_LABELS[kind]] = (R, n) => generate(kind, n, undefined, R);
  function ratioOf(hole) {
    let s = 0;
    for (const v of hole) s += v;
    return s / hole.length;
  }

  // ------------------------------------------------------------------ assets shared by every container
  function loadManifest() {
    return loadScript(ASSETS + "manifest.js").then(() => window.PLAYGROUND_MANIFEST, () => {
      throw new Error("the playground's assets were not built (make book builds them into book/_widgets_js/playground)");
    });
  }
  // The manifest for a container, or null after saying in the container why there is none.
  async function manifestFor(root) {
    try {
      return await loadManifest();
    } catch (err) {
      root.append(el("p", {class: "pg-status", text: "unavailable: " + err.message}));
      return null;
    }
  }
  let ortReady = null;
  function loadOrt() {
    if (!ortReady) ortReady = (async () => {
      await loadScript(ASSETS + "ort.wasm.min.js");
      await loadScript(ASSETS + "ort-wasm.js");
      ort.env.wasm.numThreads = 1;     // no SharedArrayBuffer on file://
      ort.env.wasm.wasmBinary = bytesOf(window.PLAYGROUND_ORT.wasm);
      ort.env.wasm.wasmPaths = {mjs: "data:text/javascript;base64," + window.PLAYGROUND_ORT.glue};
    })();
    return ortReady;
  }
  function photoSelect(manifest, own) {
    const select = el("select", {class: "pg-photo", "aria-label": "photo"});
    manifest.samples.forEach((s, i) => select.append(el("option", {value: String(i), text: `${s.name} (sample bank, held out)`})));
    if (own) select.append(el("option", {value: "own", text: "your own photo…"}));
    return select;
  }
  // The centre square of an image (a data URL or the sample bank's PNG), as RGBA at n × n.
  function readPhoto(src, n) {
    return new Promise((resolve, reject) => {
      const im = new Image();
      im.onload = () => {
        const c = document.createElement("canvas");
        c.width = c.height = n;
        const side = Math.min(im.width, im.height), ctx = c.getContext("2d");
        ctx.drawImage(im, (im.width - side) / 2, (im.height - side) / 2, side, side, 0, 0, n, n);
        resolve(ctx.getImageData(0, 0, n, n).data);
      };
      im.onerror = () => reject(new Error("the image could not be read"));
      im.src = src;
    });
  }
  function labelled(text, input) {
    const label = el("label", {class: "pg-field"}, el("span", {text: text}), input);
    return label;
  }

  // ------------------------------------------------------------------ the playground (full or compact)
  function Playground(root, opts) {
    const state = {
      N: 128, image: null, truth: null, hasTruth: false, hole: null, undo: [], results: {},
      runs: 0, running: false, again: false, view: "composite", methods: [], sessions: {}, seed: 1,
      compact: opts.compact, only: opts.methods, requested: [],
    };
    let readyResolve;
    const self = {mode: opts.compact ? "compact" : "full", root, state, ready: new Promise(r => { readyResolve = r; })};
    const ui = {cards: {}};

    async function runModel(rec, image, hole, N) {
      const s = rec.size, img = resizeImage(image, N, s), h = resizeHole(hole, N, s);
      const known = new Float32Array(3 * s * s);
      for (let c = 0; c < 3; c++) for (let i = 0; i < s * s; i++) known[c * s * s + i] = img[c * s * s + i] * (1 - h[i]);
      const feeds = {image: new ort.Tensor("float32", known, [1, 3, s, s]), hole: new ort.Tensor("float32", h, [1, 1, s, s])};
      if (rec.inputs.includes("edge")) {
        const k = new Uint8Array(s * s);
        for (let i = 0; i < s * s; i++) k[i] = h[i] ? 0 : 1;
        feeds.edge = new ort.Tensor("float32", canny(known, k, s, rec.sigma), [1, 1, s, s]);
      }
      const out = await state.sessions[rec.name].run(feeds);
      const pred = Float32Array.from(out.pred.data, v => Math.min(1, Math.max(0, v)));
      return s === N ? pred : bilinear(pred, 3, s, N);
    }

    async function runAll() {
      if (state.running) { state.again = true; return; }
      state.running = true;
      try {
        do {
          state.again = false;
          const N = state.N, image = state.image, hole = Uint8Array.from(state.hole), NN = N * N;
          ui.ratio.textContent = `hole: ${(100 * ratioOf(state.hole)).toFixed(1)} % of the pixels`;
          for (const rec of state.methods) {
            if (rec.status !== "ok" || (rec.name !== "telea" && !state.sessions[rec.name])) continue;
            const card = ui.cards[rec.name];
            card.root.dataset.state = "running";
            await new Promise(r => setTimeout(r, 0));   // let the page repaint
            const t0 = performance.now();
            const raw = rec.name === "telea" ? telea(image, hole, N, 3) : await runModel(rec, image, hole, N);
            const ms = performance.now() - t0;
            const composite = new Float32Array(3 * NN);
            for (let c = 0; c < 3; c++) for (let i = 0; i < NN; i++)
              composite[c * NN + i] = hole[i] ? raw[c * NN + i] : image[c * NN + i];
            const res = {raw, composite, ms, hole};
            if (state.hasTruth) { res.psnr = psnr(composite, state.truth); res.ssim = ssim(composite, state.truth, N); }
            state.results[rec.name] = res;
            showResult(rec.name);
            card.root.dataset.state = "done";
          }
          state.runs += 1;
          root.dataset.runs = String(state.runs);
        } while (state.again);
      } catch (err) {
        console.error("playground: a method failed:", err);
        ui.status.textContent = "a method failed: " + err.message;
      } finally {
        state.running = false;
      }
    }

    function showResult(name) {
      const res = state.results[name], card = ui.cards[name];
      if (!res) return;
      drawPlanar(card.canvas, state.view === "raw" ? res.raw : res.composite, state.N);
      let text = `${res.ms.toFixed(0)} ms`;
      if (res.psnr !== undefined) text += ` · PSNR ${isFinite(res.psnr) ? res.psnr.toFixed(2) : "∞"} dB · SSIM ${res.ssim.toFixed(3)}`;
      card.info.textContent = text;
    }

    function setImage(rgba, truth) {
      state.image = planarFromRGBA(rgba, state.N);
      state.truth = state.image;
      state.hasTruth = truth;
      redrawInput();
    }
    function redrawInput() { drawPlanar(ui.input, state.image, state.N, state.hole); }
    function setHole(hole, record) {
      if (record !== false) state.undo.push(Uint8Array.from(state.hole));
      if (state.undo.length > 50) state.undo.shift();
      state.hole = hole;
      redrawInput();
      runAll();
    }
    function loadSrc(src, truth) { return readPhoto(src, state.N).then(rgba => setImage(rgba, truth)); }

    function addCard(rec) {
      const canvas = el("canvas", {width: state.N, height: state.N, class: "pg-canvas", "aria-label": rec.label + " result"});
      const info = el("div", {class: "pg-info"});
      const root = el("div", {class: "pg-card", "data-method": rec.name, "data-state": rec.status === "ok" ? "loading" : "unavailable"},
        el("div", {class: "pg-title", text: rec.label}), canvas, info);
      if (rec.status !== "ok") info.textContent = "unavailable: " + rec.reason;
      else info.textContent = rec.name === "telea" ? "" : "loading…";
      ui.cards[rec.name] = {root, canvas, info};
      ui.grid.append(root);
    }

    function buildUI(manifest) {
      const N = state.N;
      ui.status = el("p", {class: "pg-status", text: "loading ONNX Runtime…"});
      const select = photoSelect(manifest, true);
      const file = el("input", {type: "file", accept: "image/*", class: "pg-file", hidden: ""});
      select.addEventListener("change", () => {
        if (select.value === "own") { file.click(); return; }
        loadSrc(manifest.samples[+select.value].src, true).then(runAll);
      });
      file.addEventListener("change", () => {
        const f = file.files && file.files[0];
        if (!f) return;
        const reader = new FileReader();
        reader.onload = () => loadSrc(reader.result, false).then(runAll, err => { ui.status.textContent = err.message; });
        reader.readAsDataURL(f);
      });
      const brush = el("input", {type: "range", min: "1", max: "20", value: "5", class: "pg-brush", "aria-label": "brush radius"});
      const brushLabel = el("span", {text: "brush 5 px"});
      brush.addEventListener("input", () => { brushLabel.textContent = `brush ${brush.value} px`; });
      const undo = el("button", {type: "button", class: "pg-undo", text: "undo"});
      undo.addEventListener("click", () => { if (state.undo.length) setHole(state.undo.pop(), false); });
      const clear = el("button", {type: "button", class: "pg-clear", text: "clear"});
      clear.addEventListener("click", () => setHole(new Uint8Array(N * N)));
      const presets = el("span", {class: "pg-presets"});
      for (const name of Object.keys(PRESETS)) {
        const b = el("button", {type: "button", "data-preset": name, text: name});
        b.addEventListener("click", () => setHole(PRESETS[name](rng(state.seed++), N)));
        presets.append(b);
      }
      const view = el("label", {class: "pg-view"});
      const raw = el("input", {type: "checkbox", class: "pg-raw"});
      raw.addEventListener("change", () => { state.view = raw.checked ? "raw" : "composite"; Object.keys(state.results).forEach(showResult); });
      view.append(raw, " show the raw prediction (unchecked: composite, known pixels pasted back)");

      ui.input = el("canvas", {width: N, height: N, class: "pg-canvas pg-input", "aria-label": "photo: paint the hole here"});
      let last = null;
      const pos = e => {
        const r = ui.input.getBoundingClientRect();
        return [(e.clientX - r.left) * N / r.width, (e.clientY - r.top) * N / r.height];
      };
      ui.input.addEventListener("pointerdown", e => {
        e.preventDefault();
        ui.input.setPointerCapture(e.pointerId);
        state.undo.push(Uint8Array.from(state.hole));
        last = pos(e);
        disc(state.hole, N, last[0], last[1], +brush.value);
        redrawInput();
      });
      ui.input.addEventListener("pointermove", e => {
        if (!last) return;
        const p = pos(e);
        segment(state.hole, N, last[0], last[1], p[0], p[1], +brush.value);
        last = p;
        redrawInput();
      });
      const end = () => { if (last) { last = null; runAll(); } };
      ui.input.addEventListener("pointerup", end);
      ui.input.addEventListener("pointercancel", end);

      ui.ratio = el("div", {class: "pg-ratio"});
      ui.grid = el("div", {class: "pg-grid"});
      const main = el("div", {class: "pg-main"}, el("div", {class: "pg-card pg-paint"}, el("div", {class: "pg-title", text: "paint the hole"}), ui.input, ui.ratio), ui.grid);
      if (state.compact) {
        root.append(
          el("div", {class: "pg-controls"}, select, file, brushLabel, brush, undo, clear),
          el("div", {class: "pg-controls"}, el("span", {text: "masks: "}), presets),
          main, ui.status);
      } else {
        root.append(
          el("div", {class: "pg-controls"}, select, file, brushLabel, brush, undo, clear),
          el("div", {class: "pg-controls"}, el("span", {text: "mask presets: "}), presets),
          el("div", {class: "pg-controls"}, view),
          main, ui.status, modelTable(manifest));
      }
    }

    function modelTable(manifest) {
      const rows = manifest.methods.map(m => el("tr", {},
        el("td", {text: m.label}), el("td", {text: m.size ? `${m.size} px` : "—"}),
        el("td", {text: m.bytes ? `${(m.bytes / 1e6).toFixed(2)} MB` : "—"}),
        el("td", {text: m.max_abs_diff !== undefined ? m.max_abs_diff.toExponential(1) : "—"}),
        el("td", {text: m.status === "ok" ? "runs in the page" : "unavailable: " + m.reason})));
      return el("table", {class: "pg-models"},
        el("thead", {}, el("tr", {}, ...["reference model", "input size", "ONNX file (half-precision weights)",
          "largest |ONNX − PyTorch| (seeded input)", "status"].map(t => el("th", {text: t})))),
        el("tbody", {}, ...rows));
    }

    async function start() {
      const manifest = await manifestFor(root);
      if (!manifest) return;
      state.N = manifest.work_size;
      state.hole = new Uint8Array(state.N * state.N);
      const wanted = state.only ? manifest.methods.filter(m => state.only.includes(m.name)) : manifest.methods;
      buildUI(manifest);
      if (state.only && wanted.length < state.only.length) {
        const known = manifest.methods.map(m => m.name);
        ui.status.textContent = "unknown method(s): " + state.only.filter(n => !known.includes(n)).join(", ") + " (the playground has " + known.join(", ") + ")";
      }
      state.methods = [{name: "telea", label: "Telea (classical, fast marching)", status: "ok"}].concat(
        wanted.map(m => Object.assign({}, m, {label: m.label + (m.cpu_minutes ? ` (reference, ${m.cpu_minutes} CPU-min)` : " (reference)")})));
      if (manifest.ort.status !== "ok") {
        for (const m of state.methods) if (m.name !== "telea" && m.status === "ok") { m.status = "unavailable"; m.reason = "ONNX Runtime Web: " + manifest.ort.reason; }
      }
      state.methods.forEach(addCard);
      await loadSrc(manifest.samples[0].src, true);
      state.hole = PRESETS["rectangle"](rng(0), state.N);
      redrawInput();
      await runAll();                 // Telea while the models load
      const models = state.methods.filter(m => m.name !== "telea" && m.status === "ok");
      const t0 = performance.now();
      if (models.length) {
        try {
          await loadOrt();
          ui.status.textContent = `ONNX Runtime Web ${window.PLAYGROUND_ORT.version} (WebAssembly, one thread): loading the models…`;
        } catch (err) {
          console.error("playground: ONNX Runtime Web could not start:", err);
          for (const m of models) { m.status = "unavailable"; ui.cards[m.name].info.textContent = "unavailable: ONNX Runtime Web could not start: " + err.message; ui.cards[m.name].root.dataset.state = "unavailable"; }
        }
        for (const m of models) {
          if (m.status !== "ok") continue;
          try {
            state.requested.push(m.file);
            await loadScript(ASSETS + m.file);
            state.sessions[m.name] = await ort.InferenceSession.create(bytesOf(window.PLAYGROUND_MODELS[m.name]), {executionProviders: ["wasm"]});
            ui.cards[m.name].info.textContent = "ready";
            ui.cards[m.name].root.dataset.state = "ready";
          } catch (err) {
            console.error(`playground: ${m.name} could not be loaded:`, err);
            m.status = "unavailable";
            ui.cards[m.name].info.textContent = "unavailable: " + (err.message || err);
            ui.cards[m.name].root.dataset.state = "unavailable";
          }
        }
      }
      const ok = state.methods.filter(m => m.status === "ok");
      if (state.compact) {
        const mb = models.filter(m => m.status === "ok").reduce((s, m) => s + m.bytes, 0) / 1e6;
        const rt = window.PLAYGROUND_ORT ? `ONNX Runtime Web ${window.PLAYGROUND_ORT.version} (${(manifest.ort.wasm_bytes / 1e6).toFixed(1)} MB WebAssembly) and ` : "";
        ui.status.textContent = `ready in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${rt}the ${mb.toFixed(1)} MB model, read from the book's files. ` +
          "Paint on the photo; both methods refill the hole when you lift the mouse.";
      } else {
        ui.status.textContent = `ready: ${ok.length} methods run in this page (${ok.map(m => m.name).join(", ")}). Paint on the photo; every method refills the hole when you lift the mouse.`;
      }
      await runAll();
      root.dataset.ready = "true";
      readyResolve();
    }

    self.run = runAll;
    if (state.compact) {     // nothing heavy until the reader asks for it
      const button = el("button", {type: "button", class: "pg-load", text: "Load the live demo"});
      const gate = el("div", {class: "pg-gate"},
        el("p", {text: "Live demo: this chapter's reference model and Telea's fill, run in your browser on a photo you pick and a hole you paint. " +
          "The button reads ONNX Runtime Web (WebAssembly) and the model from the book's own files, 20–30 MB of scripts; " +
          "until then the page loads neither. Nothing is sent anywhere."}), button);
      button.addEventListener("click", () => { gate.remove(); start(); });
      root.append(gate);
    } else {
      start();
    }
    return self;
  }

  // ------------------------------------------------------------------ the intro's explorer and mask gallery
  // No painting and no models: a generated mask (kind, hole %, seed as in the intro notebook's
  // ipywidgets explorer), Telea's fill and its scores; ONNX Runtime is never loaded.
  function range(cls, label, min, max, step, value, unit) {
    const input = el("input", {type: "range", min: String(min), max: String(max), step: String(step), value: String(value), class: cls, "aria-label": label});
    const text = el("span", {class: "pg-value"});
    const show = () => { text.textContent = `${input.value}${unit}`; };
    input.addEventListener("input", show);
    show();
    return {input, node: el("label", {class: "pg-field"}, el("span", {text: label + " "}), input, text)};
  }
  function asked(percent) { return [Math.max(0, percent / 100 - 0.05), percent / 100]; }
  function drawHole(canvas, hole, n) {    // white = missing
    const ctx = canvas.getContext("2d"), id = ctx.createImageData(n, n);
    for (let i = 0; i < n * n; i++) {
      const v = hole[i] ? 255 : 40;
      id.data[4 * i] = id.data[4 * i + 1] = id.data[4 * i + 2] = v; id.data[4 * i + 3] = 255;
    }
    ctx.putImageData(id, 0, 0);
  }

  function Explorer(root) {
    const state = {N: 128, photo: 0, kind: "free_form", percent: 30, seed: 0, image: null, hole: null, result: null, runs: 0};
    const self = {mode: "explorer", root, state};
    let readyResolve;
    self.ready = new Promise(r => { readyResolve = r; });
    const ui = {};
    function update() {
      const N = state.N, NN = N * N, image = state.image, want = asked(state.percent);
      let hole;
      try {
        hole = generate(state.kind, N, want, state.seed);
      } catch (err) {
        ui.scores.textContent = err.message;
        return;
      }
      const t0 = performance.now(), raw = telea(image, hole, N, 3), ms = performance.now() - t0;
      const composite = new Float32Array(3 * NN);
      let l1 = 0, count = 0;
      for (let c = 0; c < 3; c++) for (let i = 0; i < NN; i++) {
        composite[c * NN + i] = hole[i] ? raw[c * NN + i] : image[c * NN + i];
        if (hole[i]) { l1 += Math.abs(raw[c * NN + i] - image[c * NN + i]); count++; }
      }
      const ratio = ratioOf(hole), res = {hole, composite, ratio, ms, psnr: psnr(composite, image), ssim: ssim(composite, image, N), l1Hole: l1 / Math.max(1, count)};
      state.hole = hole; state.result = res;
      drawPlanar(ui.input, image, N, hole);
      drawPlanar(ui.output, composite, N);
      const inside = ratio >= want[0] && ratio <= want[1];
      ui.scores.textContent = `hole ratio ${(100 * ratio).toFixed(1)} % (asked: ${(100 * want[0]).toFixed(0)}–${(100 * want[1]).toFixed(0)} %` +
        `${inside ? "" : ", outside it"}) · PSNR ${isFinite(res.psnr) ? res.psnr.toFixed(2) : "∞"} dB · SSIM ${res.ssim.toFixed(3)} · ` +
        `hole L1 ${res.l1Hole.toFixed(4)} · Telea ${ms.toFixed(0)} ms in this page`;
      state.runs += 1;
      root.dataset.runs = String(state.runs);
    }
    async function start() {
      const manifest = await manifestFor(root);
      if (!manifest) return;
      const N = state.N = manifest.work_size;
      const photo = photoSelect(manifest, false);
      const kind = el("select", {class: "pg-kind", "aria-label": "mask"});
      for (const [k, label] of Object.entries(KIND_LABELS)) kind.append(el("option", {value: k, text: label}));
      const percent = range("pg-percent", "hole %", 5, 60, 5, state.percent, " %");
      const seed = range("pg-seed", "seed", 0, 20, 1, state.seed, "");
      ui.input = el("canvas", {width: N, height: N, class: "pg-canvas", "aria-label": "masked input"});
      ui.output = el("canvas", {width: N, height: N, class: "pg-canvas", "aria-label": "Telea's fill"});
      const truth = el("canvas", {width: N, height: N, class: "pg-canvas", "aria-label": "ground truth"});
      ui.scores = el("div", {class: "pg-scores"});
      const tile = (title, canvas) => el("div", {class: "pg-card"}, el("div", {class: "pg-title", text: title}), canvas);
      root.append(
        el("div", {class: "pg-controls"}, labelled("photo ", photo), labelled("mask ", kind),
           el("span", {class: "pg-field", text: "method: Telea (Navier–Stokes and biharmonic: notebook only)"})),
        el("div", {class: "pg-controls"}, percent.node, seed.node),
        el("div", {class: "pg-grid"}, tile("input", ui.input), tile("Telea (composite)", ui.output), tile("ground truth", truth)),
        ui.scores);
      const setPhoto = async () => {
        state.photo = +photo.value;
        state.image = planarFromRGBA(await readPhoto(manifest.samples[state.photo].src, N), N);
        drawPlanar(truth, state.image, N);
        update();
      };
      photo.addEventListener("change", setPhoto);
      kind.addEventListener("change", () => { state.kind = kind.value; update(); });
      percent.input.addEventListener("input", () => { state.percent = +percent.input.value; update(); });
      seed.input.addEventListener("input", () => { state.seed = +seed.input.value; update(); });
      await setPhoto();
      root.dataset.ready = "true";
      readyResolve();
    }
    self.update = update;
    start();
    return self;
  }

  function MaskGallery(root) {
    const N = 96, state = {N, percent: 20, seed: 0, masks: [], runs: 0};
    const self = {mode: "masks", root, state, ready: Promise.resolve()};
    const percent = range("pg-percent", "hole %", 5, 60, 5, state.percent, " %");
    const seed = range("pg-seed", "seed", 0, 50, 1, state.seed, "");
    const grid = el("div", {class: "pg-grid pg-gallery"}), tiles = [];
    for (const kind of Object.keys(KIND_LABELS)) for (let i = 0; i < 3; i++) {
      const canvas = el("canvas", {width: N, height: N, class: "pg-canvas", "aria-label": `${KIND_LABELS[kind]} mask`});
      const info = el("div", {class: "pg-info"});
      grid.append(el("div", {class: "pg-card", "data-kind": kind}, el("div", {class: "pg-title", text: KIND_LABELS[kind]}), canvas, info));
      tiles.push({kind, i, canvas, info});
    }
    function update() {
      const want = asked(state.percent);
      state.masks = tiles.map(t => {
        const hole = generate(t.kind, N, want, state.seed + t.i), ratio = ratioOf(hole);
        drawHole(t.canvas, hole, N);
        t.info.textContent = `${(100 * ratio).toFixed(1)} % missing`;
        return {kind: t.kind, hole, ratio};
      });
      state.runs += 1;
      root.dataset.runs = String(state.runs);
    }
    percent.input.addEventListener("input", () => { state.percent = +percent.input.value; update(); });
    seed.input.addEventListener("input", () => { state.seed = +seed.input.value; update(); });
    root.append(el("div", {class: "pg-controls"}, percent.node, seed.node), grid);
    update();
    root.dataset.ready = "true";
    self.update = update;
    return self;
  }

  // ------------------------------------------------------------------ every container on the page
  Object.assign(api, {telea, canny, psnr, ssim, presets: PRESETS, rng, generate, kinds: KIND_LABELS});
  function go() {
    const roots = new Set([document.getElementById("inpaint-playground"), ...document.querySelectorAll(".inpaint-playground")]);
    for (const root of roots) {
      if (!root || root.dataset.started) continue;
      root.dataset.started = "true";
      root.classList.add("inpaint-playground");
      const d = root.dataset, mode = d.mode || (d.compact === "true" ? "compact" : "full");
      let inst;
      if (mode === "explorer") inst = Explorer(root);
      else if (mode === "masks") inst = MaskGallery(root);
      else inst = Playground(root, {compact: mode === "compact", methods: d.methods ? d.methods.split(/[\s,]+/).filter(Boolean) : null});
      instances.push(inst);
      if (instances.length === 1) Object.assign(api, {state: inst.state, ready: inst.ready, run: inst.run || inst.update, root});
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", go); else go();
})();
