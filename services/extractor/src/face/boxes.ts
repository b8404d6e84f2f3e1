/** Axis-aligned rectangle in image pixels: corners (x1, y1) and (x2, y2). */
export interface Rect {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface Detection extends Rect {
  score: number;
}

export function area(r: Rect): number {
  return Math.max(0, r.x2 - r.x1) * Math.max(0, r.y2 - r.y1);
}

export function iou(a: Rect, b: Rect): number {
  const inter = area({ x1: Math.max(a.x1, b.x1), y1: Math.max(a.y1, b.y1), x2: Math.min(a.x2, b.x2), y2: Math.min(a.y2, b.y2) });
  const union = area(a) + area(b) - inter;
  return union > 0 ? inter / union : 0;
}

/** Greedy non-maximum suppression: best score first, drops boxes overlapping a kept one. */
export function nms<T extends Detection>(detections: readonly T[], maxIou: number): T[] {
  const sorted = [...detections].sort((a, b) => b.score - a.score);
  const kept: T[] = [];
  for (const d of sorted) if (kept.every((k) => iou(k, d) <= maxIou)) kept.push(d);
  return kept;
}

/** A square of the box's height around its centre, as the landmark model was trained on. */
export function squareOf(r: Rect): Rect {
  const size = r.y2 - r.y1;
  const cx = (r.x1 + r.x2) / 2, cy = (r.y1 + r.y2) / 2;
  return { x1: cx - size / 2, y1: cy - size / 2, x2: cx + size / 2, y2: cy + size / 2 };
}

export function clip(r: Rect, width: number, height: number): Rect {
  return {
    x1: Math.max(0, r.x1),
    y1: Math.max(0, r.y1),
    x2: Math.min(width, r.x2),
    y2: Math.min(height, r.y2),
  };
}

/**
 * Like NMS, but each kept box becomes the score-weighted mean of the boxes it suppresses. The
 * same face is seen by the whole-image pass and by one or more tiles; averaging their boxes
 * keeps the face box (hence the landmarks) steady from one rendering of a photo to another.
 */
export function fuse(detections: readonly Detection[], minIou: number): Detection[] {
  const sorted = [...detections].sort((a, b) => b.score - a.score);
  const clusters: Detection[][] = [];
  for (const d of sorted) {
    const home = clusters.find((c) => iou(c[0]!, d) > minIou);
    if (home) home.push(d);
    else clusters.push([d]);
  }
  return clusters.map((members) => {
    const total = members.reduce((s, m) => s + m.score, 0);
    const mean = (key: keyof Rect) => members.reduce((s, m) => s + m[key] * m.score, 0) / total;
    return { x1: mean("x1"), y1: mean("y1"), x2: mean("x2"), y2: mean("y2"), score: members[0]!.score };
  });
}
