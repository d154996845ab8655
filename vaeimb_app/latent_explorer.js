// Latent explorer: decode a VAE latent code in the browser on every slider step.
//
// The decoder arrives once as a spec written by vaeimb/latent_js.py (layer list, float32
// weights in base64). `compileSpec` and `decode` below are the whole decoder; the tests
// run these same functions under Node against torch. The chosen code goes back to Python
// (one rerun) only when a slider is released or a button pressed, never while dragging.

const CHANGE_DELAY_MS = 200; // holding an arrow key fires a change per step: send the last one

function floats(b64) {
  if (b64 === null || b64 === undefined) return null;
  const bin = atob(b64);
  const view = new DataView(new ArrayBuffer(bin.length));
  for (let i = 0; i < bin.length; i++) view.setUint8(i, bin.charCodeAt(i));
  const out = new Float64Array(bin.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true); // little-endian
  return out;
}

/** Decode the base64 weights once; the result is what `decode` runs. */
export function compileSpec(spec) {
  if (!spec || spec.format !== "vaeimb-decoder/1") throw new Error("Unknown decoder spec format");
  const layers = spec.layers.map((L) => ({ ...L, w: floats(L.weight), b: floats(L.bias) }));
  return { latentDim: spec.latent_dim, condition: spec.condition || [], layers, shape: spec.output.shape };
}

function linear(L, x) {
  const y = new Float64Array(L.out);
  for (let o = 0; o < L.out; o++) {
    let s = L.b ? L.b[o] : 0;
    const row = o * L.in;
    for (let i = 0; i < L.in; i++) s += L.w[row + i] * x[i];
    y[o] = s;
  }
  return y;
}

// out[oc, iy*s - p + ky*d, ix*s - p + kx*d] += x[ic, iy, ix] * w[ic, oc, ky, kx]
function convTranspose2d(L, x) {
  const [ic, ih, iw] = L.in_shape, [oc, oh, ow] = L.out_shape;
  const [kh, kw] = L.kernel, [sh, sw] = L.stride, [ph, pw] = L.padding, [dh, dw] = L.dilation;
  const y = new Float64Array(oc * oh * ow);
  if (L.b) for (let o = 0; o < oc; o++) y.fill(L.b[o], o * oh * ow, (o + 1) * oh * ow);
  for (let c = 0; c < ic; c++) {
    for (let iy = 0; iy < ih; iy++) {
      for (let ix = 0; ix < iw; ix++) {
        const v = x[(c * ih + iy) * iw + ix];
        if (v === 0) continue; // after a ReLU most inputs are zero
        for (let o = 0; o < oc; o++) {
          const wBase = (c * oc + o) * kh * kw, yBase = o * oh * ow;
          for (let ky = 0; ky < kh; ky++) {
            const oy = iy * sh - ph + ky * dh;
            if (oy < 0 || oy >= oh) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ox = ix * sw - pw + kx * dw;
              if (ox < 0 || ox >= ow) continue;
              y[yBase + oy * ow + ox] += v * L.w[wBase + ky * kw + kx];
            }
          }
        }
      }
    }
  }
  return y;
}

// out[oc, oy, ox] = b[oc] + sum x[ic, oy*s - p + ky*d, ox*s - p + kx*d] * w[oc, ic, ky, kx]
function conv2d(L, x) {
  const [ic, ih, iw] = L.in_shape, [oc, oh, ow] = L.out_shape;
  const [kh, kw] = L.kernel, [sh, sw] = L.stride, [ph, pw] = L.padding, [dh, dw] = L.dilation;
  const y = new Float64Array(oc * oh * ow);
  for (let o = 0; o < oc; o++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let s = L.b ? L.b[o] : 0;
        for (let c = 0; c < ic; c++) {
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * sh - ph + ky * dh;
            if (iy < 0 || iy >= ih) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * sw - pw + kx * dw;
              if (ix < 0 || ix >= iw) continue;
              s += x[(c * ih + iy) * iw + ix] * L.w[((o * ic + c) * kh + ky) * kw + kx];
            }
          }
        }
        y[(o * oh + oy) * ow + ox] = s;
      }
    }
  }
  return y;
}

const sigmoid = (v) => 1 / (1 + Math.exp(-v));

/** Latent code (array of latentDim numbers) -> image probabilities (Float64Array, 28*28). */
export function decode(net, z) {
  if (z.length !== net.latentDim) throw new Error(`code has ${z.length} values, decoder takes ${net.latentDim}`);
  let x = Float64Array.from([...z, ...net.condition]);
  for (const L of net.layers) {
    switch (L.type) {
      case "linear": x = linear(L, x); break;
      case "relu": x = x.map((v) => (v > 0 ? v : 0)); break;
      case "leaky_relu": x = x.map((v) => (v >= 0 ? v : v * L.slope)); break;
      case "sigmoid": x = x.map(sigmoid); break;
      case "flatten": case "unflatten": break; // flat storage: only the recorded shape changes
      case "conv_transpose2d": x = convTranspose2d(L, x); break;
      case "conv2d": x = conv2d(L, x); break;
      default: throw new Error(`Unknown layer type ${L.type}`);
    }
  }
  return x.map(sigmoid);
}

/** Probabilities -> grey levels 0..255, rounded like vaeimb.figures.to_uint8. */
export function toGray(probs) {
  return Uint8ClampedArray.from(probs, (p) => Math.round(p * 255));
}

// A small seeded generator (mulberry32) and Box-Muller: "Random sample" draws from N(0, I).
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normals(n, seed) {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()));
}

// Where each mounted explorer left its code, so leaving the page and coming back keeps it.
const memory = new Map();

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

const fmt = (v) => (Math.abs(v) < 0.005 ? 0 : v).toFixed(2);

export default function (component) {
  const { data, key, parentElement, setStateValue } = component;
  const net = compileSpec(data.spec);
  const dims = data.dims; // display order: {index, label, min, max}
  const saved = memory.get(key);
  const code = saved ? [...saved.code] : [...data.mean];
  let draws = saved ? saved.draws : 0;
  const scale = data.scale || 8;

  parentElement.querySelectorAll(".lx").forEach((old) => old.remove()); // a re-render replaces, never stacks
  const root = el("div", { class: "lx", "data-testid": "latent-explorer" });
  const controls = el("div", { class: "lx-controls" });
  const figure = el("div", { class: "lx-figure" });
  root.append(controls, figure);

  const buttons = el("div", { class: "lx-buttons" });
  const randomBtn = el("button", { type: "button" }, "Random sample");
  const resetBtn = el("button", { type: "button" }, "Reset to the mean");
  buttons.append(randomBtn, resetBtn);
  controls.append(buttons);
  if (data.caption) controls.append(el("p", { class: "lx-caption" }, data.caption));

  const inputs = new Map(); // latent index -> [input, output]
  const sliderRow = (d) => {
    const id = `lx-${key}-z${d.index}`.replace(/[^A-Za-z0-9_-]/g, "_");
    const row = el("div", { class: "lx-row" });
    const label = el("label", { for: id }, d.label);
    const input = el("input", {
      type: "range", id, min: d.min, max: d.max, step: data.step,
      "aria-label": `latent dimension ${d.index}`, "data-dim": d.index,
    });
    input.value = code[d.index];
    const out = el("output", { for: id }, fmt(code[d.index]));
    row.append(label, input, out);
    inputs.set(d.index, [input, out]);
    return row;
  };
  dims.slice(0, data.n_shown).forEach((d) => controls.append(sliderRow(d)));
  if (dims.length > data.n_shown) {
    const more = el("details", { class: "lx-more" });
    more.append(el("summary", {}, data.more_label));
    dims.slice(data.n_shown).forEach((d) => more.append(sliderRow(d)));
    controls.append(more);
  }

  const size = net.shape[1] * scale;
  const canvas = el("canvas", { width: size, height: size, role: "img", class: "lx-canvas" });
  const small = el("canvas", { width: net.shape[1], height: net.shape[0] });
  figure.append(canvas, el("p", { class: "lx-caption" }, data.image_caption || "decoded image"));
  const ctx = canvas.getContext("2d");
  const sctx = small.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  const frame = sctx.createImageData(net.shape[1], net.shape[0]);
  let gray = null;
  let drawCount = 0;

  function draw() {
    gray = toGray(decode(net, code));
    for (let i = 0; i < gray.length; i++) {
      frame.data[4 * i] = frame.data[4 * i + 1] = frame.data[4 * i + 2] = gray[i];
      frame.data[4 * i + 3] = 255;
    }
    sctx.putImageData(frame, 0, 0);
    ctx.drawImage(small, 0, 0, size, size);
    const summary = dims.slice(0, Math.min(4, dims.length)).map((d) => `z[${d.index}] = ${fmt(code[d.index])}`).join(", ");
    canvas.setAttribute("aria-label", `Decoded digit for the latent code ${summary}${dims.length > 4 ? ", …" : ""}`);
    drawCount += 1;
    root.dataset.draws = String(drawCount);
    root.dataset.drawnAt = String(performance.now());
    memory.set(key, { code: [...code], draws });
  }

  let timer = null;
  function send(now) {
    clearTimeout(timer);
    const value = code.map((v) => Math.round(v * 1e4) / 1e4);
    if (now) setStateValue("code", value);
    else timer = setTimeout(() => setStateValue("code", value), CHANGE_DELAY_MS);
  }

  function setAll(values) {
    values.forEach((v, i) => {
      const d = dims.find((dd) => dd.index === i);
      code[i] = Math.min(d.max, Math.max(d.min, v));
      const [input, out] = inputs.get(i);
      input.value = code[i];
      out.textContent = fmt(code[i]);
    });
    draw();
    send(true);
  }

  controls.addEventListener("input", (e) => {
    const t = e.target;
    if (!(t instanceof HTMLInputElement) || t.type !== "range") return;
    const i = Number(t.dataset.dim);
    code[i] = Number(t.value);
    inputs.get(i)[1].textContent = fmt(code[i]);
    draw();
  });
  controls.addEventListener("change", (e) => {
    if (e.target instanceof HTMLInputElement && e.target.type === "range") send(false);
  });
  randomBtn.addEventListener("click", () => {
    draws += 1;
    setAll(normals(code.length, (data.seed * 100003 + draws) >>> 0));
  });
  resetBtn.addEventListener("click", () => setAll(data.mean));

  // for tests and the benchmark: what is drawn, without going through Python
  root.explorer = { code: () => [...code], gray: () => Array.from(gray), decode: (z) => Array.from(decode(net, z)) };

  parentElement.appendChild(root);
  draw();
  return () => {
    clearTimeout(timer);
    root.remove();
  };
}
