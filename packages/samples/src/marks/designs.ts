import { between, intBetween, pick, seededRng, type Rng } from "./rng.ts";

export type MarkModality = "tattoo" | "mark";

/** One identity: a drawing on a transparent square, rendered many times onto skin. */
export interface MarkDesign {
  modality: MarkModality;
  /** e.g. "tattoo", "scar", "piercing", "mole", "birthmark". */
  kind: string;
  /** SVG of a 100 x 100 view box with a transparent background. */
  svg: string;
}

const f = (n: number) => n.toFixed(1);

/** Blue-black inks, as most tattoos are; the colours are for the minority that are coloured. */
const DARK_INKS = ["#141a26", "#1b2233", "#10141c", "#1f2a3d", "#232326"];
const COLOUR_INKS = ["#a3202a", "#1f6b3a", "#1d5f7a", "#5b2a7a", "#c0621b", "#b58a12"];

function star(rng: Rng, cx: number, cy: number, r: number): string {
  const points = intBetween(rng, 5, 8);
  const inner = between(rng, 0.35, 0.6);
  const turn = rng() * Math.PI;
  const pts: string[] = [];
  for (let i = 0; i < points * 2; i++) {
    const a = turn + (i * Math.PI) / points;
    const rr = i % 2 === 0 ? r : r * inner;
    pts.push(`${f(cx + rr * Math.cos(a))},${f(cy + rr * Math.sin(a))}`);
  }
  return pts.join(" ");
}

function blob(rng: Rng, cx: number, cy: number, r: number, lumps: number, roughness: number): string {
  const n = 28;
  const phases = Array.from({ length: lumps }, () => rng() * Math.PI * 2);
  const pts: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = (i / n) * Math.PI * 2;
    const wobble = phases.reduce((s, p, k) => s + Math.sin(a * (k + 2) + p) / (k + 2), 0);
    const rr = r * (1 + roughness * wobble);
    pts.push(`${f(cx + rr * Math.cos(a))},${f(cy + rr * Math.sin(a))}`);
  }
  return `M${pts.join(" L")} Z`;
}

/** Short strokes in a row, like lettering seen from afar. */
function glyphs(rng: Rng, x: number, y: number, width: number, height: number): string {
  const count = intBetween(rng, 3, 7);
  const step = width / count;
  let d = "";
  for (let i = 0; i < count; i++) {
    const gx = x + i * step + step * 0.15;
    const w = step * 0.7;
    const strokes = intBetween(rng, 2, 3);
    for (let s = 0; s < strokes; s++) {
      const x0 = gx + rng() * w, y0 = y + rng() * height, x1 = gx + rng() * w, y1 = y + rng() * height;
      d += `M${f(x0)},${f(y0)} Q${f(gx + rng() * w)},${f(y + rng() * height)} ${f(x1)},${f(y1)} `;
    }
  }
  return d;
}

function tattooElement(rng: Rng, ink: () => string): string {
  const cx = between(rng, 30, 70), cy = between(rng, 30, 70);
  const width = between(rng, 1.5, 4.5);
  switch (intBetween(rng, 0, 5)) {
    case 0:
      return `<polygon points="${star(rng, cx, cy, between(rng, 10, 24))}" fill="${rng() < 0.5 ? ink() : "none"}" stroke="${ink()}" stroke-width="${f(width)}" stroke-linejoin="round"/>`;
    case 1:
      return `<circle cx="${f(cx)}" cy="${f(cy)}" r="${f(between(rng, 6, 22))}" fill="none" stroke="${ink()}" stroke-width="${f(width)}"/>`;
    case 2: {
      // A banner: a band with notched ends and lettering strokes inside it.
      const w = between(rng, 40, 70), h = between(rng, 10, 16), x = 50 - w / 2, y = cy - h / 2, n = h * 0.4;
      const band = `M${f(x)},${f(y)} H${f(x + w)} L${f(x + w - n)},${f(y + h / 2)} L${f(x + w)},${f(y + h)} H${f(x)} L${f(x + n)},${f(y + h / 2)} Z`;
      return `<path d="${band}" fill="none" stroke="${ink()}" stroke-width="${f(width * 0.7)}"/>` +
        `<path d="${glyphs(rng, x + n + 2, y + 2.5, w - 2 * n - 4, h - 5)}" fill="none" stroke="${ink()}" stroke-width="1.4" stroke-linecap="round"/>`;
    }
    case 3:
      return `<path d="${glyphs(rng, between(rng, 10, 30), cy - 6, between(rng, 40, 60), 12)}" fill="none" stroke="${ink()}" stroke-width="${f(width * 0.8)}" stroke-linecap="round"/>`;
    case 4:
      return `<path d="${blob(rng, cx, cy, between(rng, 7, 18), 3, 0.35)}" fill="${ink()}"/>`;
    default: {
      // A flowing stroke: a few cubic curves, as in tribal and script work.
      let d = `M${f(between(rng, 10, 40))},${f(between(rng, 10, 90))}`;
      for (let i = 0; i < intBetween(rng, 2, 4); i++) {
        d += ` C${f(between(rng, 5, 95))},${f(between(rng, 5, 95))} ${f(between(rng, 5, 95))},${f(between(rng, 5, 95))} ${f(between(rng, 10, 90))},${f(between(rng, 10, 90))}`;
      }
      return `<path d="${d}" fill="none" stroke="${ink()}" stroke-width="${f(width)}" stroke-linecap="round"/>`;
    }
  }
}

function tattoo(rng: Rng): MarkDesign {
  const coloured = rng() < 0.3;
  const dark = pick(rng, DARK_INKS);
  const colours = [pick(rng, COLOUR_INKS), pick(rng, COLOUR_INKS)];
  const ink = () => (coloured && rng() < 0.5 ? pick(rng, colours) : dark);
  const elements = Array.from({ length: intBetween(rng, 3, 6) }, () => tattooElement(rng, ink)).join("");
  return { modality: "tattoo", kind: "tattoo", svg: wrap(elements) };
}

function scar(rng: Rng): MarkDesign {
  // An irregular line across the patch; a wider, redder stroke under a lighter core gives the raised edges.
  const a = rng() * Math.PI;
  const len = between(rng, 55, 85);
  const n = 7;
  const pts: string[] = [];
  for (let i = 0; i < n; i++) {
    const t = (i / (n - 1) - 0.5) * len;
    const off = between(rng, -5, 5);
    pts.push(`${f(50 + t * Math.cos(a) - off * Math.sin(a))},${f(50 + t * Math.sin(a) + off * Math.cos(a))}`);
  }
  const d = `M${pts.join(" L")}`;
  const w = between(rng, 4, 9);
  const stitches = rng() < 0.4 ? stitchMarks(rng, a, len) : "";
  return {
    modality: "mark",
    kind: "scar",
    svg: wrap(
      `<path d="${d}" fill="none" stroke="#b8656a" stroke-opacity="0.55" stroke-width="${f(w * 1.8)}" stroke-linecap="round" stroke-linejoin="round" filter="url(#soft)"/>` +
        `<path d="${d}" fill="none" stroke="#f0c8bd" stroke-opacity="0.85" stroke-width="${f(w)}" stroke-linecap="round" stroke-linejoin="round"/>` +
        stitches,
    ),
  };
}

function stitchMarks(rng: Rng, a: number, len: number): string {
  const count = intBetween(rng, 4, 8);
  let d = "";
  for (let i = 0; i < count; i++) {
    const t = ((i + 0.5) / count - 0.5) * len * 0.9;
    const x = 50 + t * Math.cos(a), y = 50 + t * Math.sin(a), s = between(rng, 5, 8);
    d += `M${f(x - s * Math.sin(a))},${f(y + s * Math.cos(a))} L${f(x + s * Math.sin(a))},${f(y - s * Math.cos(a))} `;
  }
  return `<path d="${d}" stroke="#e2aaa3" stroke-opacity="0.8" stroke-width="1.6" stroke-linecap="round"/>`;
}

function piercing(rng: Rng): MarkDesign {
  const metal = pick(rng, [["#f4f4f4", "#8a8f96"], ["#f7e6a6", "#9c7a2c"], ["#e3e7ee", "#4b5160"]] as const);
  const defs = `<radialGradient id="metal" cx="35%" cy="35%" r="70%"><stop offset="0" stop-color="${metal[0]}"/><stop offset="1" stop-color="${metal[1]}"/></radialGradient>`;
  let body = "";
  const count = intBetween(rng, 1, 4);
  const a = rng() * Math.PI * 2;
  for (let i = 0; i < count; i++) {
    const x = 50 + (i - (count - 1) / 2) * 22 * Math.cos(a), y = 50 + (i - (count - 1) / 2) * 22 * Math.sin(a);
    if (rng() < 0.5) {
      const r = between(rng, 8, 16);
      body += `<circle cx="${f(x)}" cy="${f(y)}" r="${f(r)}" fill="none" stroke="#3a3030" stroke-opacity="0.5" stroke-width="${f(r * 0.45)}"/>` +
        `<circle cx="${f(x)}" cy="${f(y)}" r="${f(r)}" fill="none" stroke="url(#metal)" stroke-width="${f(r * 0.3)}"/>`;
    } else {
      const r = between(rng, 4, 7);
      body += `<circle cx="${f(x + 0.8)}" cy="${f(y + 0.8)}" r="${f(r * 1.15)}" fill="#3a3030" fill-opacity="0.45"/>` +
        `<circle cx="${f(x)}" cy="${f(y)}" r="${f(r)}" fill="url(#metal)"/>`;
    }
  }
  return { modality: "mark", kind: "piercing", svg: wrap(body, defs) };
}

function mole(rng: Rng): MarkDesign {
  const birthmark = rng() < 0.5;
  const brown = pick(rng, birthmark ? ["#a8724f", "#b98363", "#9c6b57", "#c08a6a"] : ["#4a2a1a", "#5c3823", "#3d2418", "#6b4128"]);
  let body = "";
  const count = birthmark ? intBetween(rng, 2, 5) : intBetween(rng, 1, 3);
  for (let i = 0; i < count; i++) {
    const r = birthmark ? between(rng, 8, 20) : between(rng, 3, 8);
    const spread = birthmark ? 18 : 25;
    body += `<path d="${blob(rng, 50 + between(rng, -spread, spread), 50 + between(rng, -spread, spread), r, 4, birthmark ? 0.5 : 0.2)}" fill="${brown}" fill-opacity="${f(birthmark ? between(rng, 0.45, 0.7) : 0.9)}" filter="url(#soft)"/>`;
  }
  return { modality: "mark", kind: birthmark ? "birthmark" : "mole", svg: wrap(body) };
}

function wrap(body: string, defs = ""): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100" width="100" height="100">` +
    `<defs><filter id="soft" x="-20%" y="-20%" width="140%" height="140%"><feGaussianBlur stdDeviation="0.8"/></filter>${defs}</defs>${body}</svg>`;
}

/** The design of identity `seed`: a random composition, so different seeds give different designs. */
export function markDesign(modality: MarkModality, seed: number): MarkDesign {
  const rng = seededRng(seed);
  if (modality === "tattoo") return tattoo(rng);
  return pick(rng, [scar, piercing, mole])(rng);
}
