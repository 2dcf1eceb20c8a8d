/* The Inpainting Book's playground: paint a hole on a photo and every method fills it, in the page.
 *
 * The reference models run in ONNX Runtime Web (WebAssembly, one thread); Telea's fast-marching
 * fill is ported to JavaScript below (after OpenCV's cv::inpaint, INPAINT_TELEA) and CTSDG's
 * edge input is scikit-image's Canny, also ported below. Everything arrives through <script>
 * tags (the book is read from disk, where fetch() of local files is refused): the assets that
 * `python -m inpaintlib.playground` writes to _static/playground/ (manifest.js, model-*.js with
 * the ONNX files as base64, ort.wasm.min.js and ort-wasm.js with the WebAssembly binary).
 *
 * Conventions as in inpaintlib: images are planar float arrays (3×N×N) in [0, 1]; the hole is
 * 1 where a pixel is missing; a model's output is its raw prediction, the composite pastes the
 * known pixels back. window.inpaintPlayground exposes the state for the browser tests.
 */
(function () {
  "use strict";
  const script = document.currentScript;
  const ASSETS = new URL("playground/", script ? script.src : location.href).href;
  const state = {
    N: 128, image: null, truth: null, hasTruth: false, hole: null, undo: [], results: {},
    runs: 0, running: false, again: false, view: "composite", methods: [], sessions: {}, seed: 1,
  };
  let readyResolve;
  const api = window.inpaintPlayground = {state: state, ready: new Promise(r => { readyResolve = r; })};

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      s.onload = () => resolve();
      s.onerror = () => reject(new Error("could not load " + src));
      document.head.appendChild(s);
    });
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

  // ------------------------------------------------------------------ masks (presets after inpaintlib.masks)
  function rng(seed) {   // mulberry32
    return function () {
      seed |= 0; seed = (seed + 0x6D2B79F5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  function disc(hole, n, cx, cy, r) {
    for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(n - 1, Math.ceil(cy + r)); y++)
      for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(n - 1, Math.ceil(cx + r)); x++)
        if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) hole[y * n + x] = 1;
  }
  function segment(hole, n, x0, y0, x1, y1, r) {
    const steps = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0) / Math.max(0.5, r / 2)));
    for (let s = 0; s <= steps; s++) disc(hole, n, x0 + (x1 - x0) * s / steps, y0 + (y1 - y0) * s / steps, r);
  }
  const PRESETS = {
    "free-form strokes": (R, n) => {
      const hole = new Uint8Array(n * n);
      for (let s = 0, strokes = 1 + Math.floor(R() * 3); s < strokes; s++) {
        let x = n * (0.2 + 0.6 * R()), y = n * (0.2 + 0.6 * R()), a = 2 * Math.PI * R();
        const r = n * (0.03 + 0.05 * R());
        for (let v = 0, vs = 3 + Math.floor(R() * 4); v < vs; v++) {
          a += (R() - 0.5) * 2.5;
          const len = n * (0.1 + 0.2 * R()), nx = Math.min(n - 1, Math.max(0, x + len * Math.cos(a))), ny = Math.min(n - 1, Math.max(0, y + len * Math.sin(a)));
          segment(hole, n, x, y, nx, ny, r); x = nx; y = ny;
        }
      }
      return hole;
    },
    "rectangle": (R, n) => {
      const hole = new Uint8Array(n * n), w = Math.round(n * (0.25 + 0.25 * R())), h = Math.round(n * (0.25 + 0.25 * R()));
      const x0 = Math.floor(R() * (n - w)), y0 = Math.floor(R() * (n - h));
      for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) hole[y * n + x] = 1;
      return hole;
    },
    "dense points": (R, n) => {
      const hole = new Uint8Array(n * n);
      for (let i = 0; i < Math.round(n * n / 90); i++) disc(hole, n, R() * n, R() * n, 1 + 2 * R());
      return hole;
    },
  };

  // ------------------------------------------------------------------ running the methods
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

  function holeRatio() {
    let s = 0;
    for (const v of state.hole) s += v;
    return s / state.hole.length;
  }

  async function runAll() {
    if (state.running) { state.again = true; return; }
    state.running = true;
    try {
      do {
        state.again = false;
        const N = state.N, image = state.image, hole = Uint8Array.from(state.hole), NN = N * N;
        ui.ratio.textContent = `hole: ${(100 * holeRatio()).toFixed(1)} % of the pixels`;
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
        ui.root.dataset.runs = String(state.runs);
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

  // ------------------------------------------------------------------ the page
  const ui = {cards: {}};
  function setImage(rgba, truth) {
    const N = state.N;
    state.image = planarFromRGBA(rgba, N);
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
  function loadSrc(src, truth) {
    return new Promise((resolve, reject) => {
      const im = new Image();
      im.onload = () => {
        const N = state.N, c = document.createElement("canvas");
        c.width = c.height = N;
        const side = Math.min(im.width, im.height), ctx = c.getContext("2d");
        ctx.drawImage(im, (im.width - side) / 2, (im.height - side) / 2, side, side, 0, 0, N, N);
        setImage(ctx.getImageData(0, 0, N, N).data, truth);
        resolve();
      };
      im.onerror = () => reject(new Error("the image could not be read"));
      im.src = src;
    });
  }

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

  function buildUI(root, manifest) {
    const N = state.N;
    ui.root = root;
    ui.status = el("p", {class: "pg-status", text: "loading ONNX Runtime…"});
    const select = el("select", {class: "pg-photo", "aria-label": "photo"});
    manifest.samples.forEach((s, i) => select.append(el("option", {value: String(i), text: `${s.name} (sample bank, held out)`})));
    select.append(el("option", {value: "own", text: "your own photo…"}));
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
    root.append(
      el("div", {class: "pg-controls"}, select, file, brushLabel, brush, undo, clear),
      el("div", {class: "pg-controls"}, el("span", {text: "mask presets: "}), presets),
      el("div", {class: "pg-controls"}, view),
      el("div", {class: "pg-main"}, el("div", {class: "pg-card pg-paint"}, el("div", {class: "pg-title", text: "paint the hole"}), ui.input, ui.ratio), ui.grid),
      ui.status, modelTable(manifest));
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

  async function start(root) {
    try {
      await loadScript(ASSETS + "manifest.js");
    } catch (err) {
      root.append(el("p", {class: "pg-status", text: "unavailable: the playground's assets were not built (make book builds them into book/_widgets_js/playground)"}));
      return;
    }
    const manifest = window.PLAYGROUND_MANIFEST;
    state.N = manifest.work_size;
    state.hole = new Uint8Array(state.N * state.N);
    buildUI(root, manifest);
    state.methods = [{name: "telea", label: "Telea (classical, fast marching)", status: "ok"}].concat(
      manifest.methods.map(m => Object.assign({}, m, {label: m.label + (m.cpu_minutes ? ` (reference, ${m.cpu_minutes} CPU-min)` : " (reference)")})));
    if (manifest.ort.status !== "ok") {
      for (const m of state.methods) if (m.name !== "telea" && m.status === "ok") { m.status = "unavailable"; m.reason = "ONNX Runtime Web: " + manifest.ort.reason; }
    }
    state.methods.forEach(addCard);
    await loadSrc(manifest.samples[0].src, true);
    state.hole = PRESETS["rectangle"](rng(0), state.N);
    redrawInput();
    await runAll();                 // Telea while the models load
    const models = state.methods.filter(m => m.name !== "telea" && m.status === "ok");
    if (models.length) {
      try {
        await loadScript(ASSETS + "ort.wasm.min.js");
        await loadScript(ASSETS + "ort-wasm.js");
        ort.env.wasm.numThreads = 1;     // no SharedArrayBuffer on file://
        ort.env.wasm.wasmBinary = bytesOf(window.PLAYGROUND_ORT.wasm);
        ort.env.wasm.wasmPaths = {mjs: "data:text/javascript;base64," + window.PLAYGROUND_ORT.glue};
        ui.status.textContent = `ONNX Runtime Web ${window.PLAYGROUND_ORT.version} (WebAssembly, one thread): loading the models…`;
      } catch (err) {
        console.error("playground: ONNX Runtime Web could not start:", err);
        for (const m of models) { m.status = "unavailable"; ui.cards[m.name].info.textContent = "unavailable: ONNX Runtime Web could not start: " + err.message; ui.cards[m.name].root.dataset.state = "unavailable"; }
      }
      for (const m of models) {
        if (m.status !== "ok") continue;
        try {
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
    const ok = state.methods.filter(m => m.status === "ok").map(m => m.name);
    ui.status.textContent = `ready: ${ok.length} methods run in this page (${ok.join(", ")}). Paint on the photo; every method refills the hole when you lift the mouse.`;
    await runAll();
    root.dataset.ready = "true";
    readyResolve();
  }

  api.run = runAll; api.telea = telea; api.canny = canny; api.psnr = psnr; api.ssim = ssim; api.presets = PRESETS; api.rng = rng;
  const go = () => { const root = document.getElementById("inpaint-playground"); if (root) start(root); };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", go); else go();
})();
