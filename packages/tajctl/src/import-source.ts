import { createReadStream } from "node:fs";
import { opendir } from "node:fs/promises";
import { basename, dirname, extname, isAbsolute, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { ErrorCode, Modality } from "@taj/proto";
import { AppError, modalityFromName } from "@taj/common";

/** One photo to enrol: where its bytes are (read only when it is sent) and what to enrol them as. */
export interface ImportItem {
  id: string;
  modality: Modality;
  path: string;
  box?: { xPx: number; yPx: number; widthPx: number; heightPx: number };
  bodyLocation?: string;
  /** Set when the source line itself is unusable: the item is reported failed, never sent. */
  invalid?: AppError;
}

/**
 * The files of a folder, one item each: the file name without its extension is the id. Read
 * entry by entry (opendir), so a folder of millions is never listed into memory. Sub-folders and
 * hidden files are skipped.
 */
export async function* folderItems(folder: string, modality: Modality): AsyncGenerator<ImportItem> {
  for await (const entry of await opendir(folder, { bufferSize: 256 })) {
    if (!entry.isFile() || entry.name.startsWith(".")) continue;
    yield { id: basename(entry.name, extname(entry.name)), modality, path: join(folder, entry.name) };
  }
}

interface ManifestLine {
  id: string;
  modality: string;
  path: string;
  box?: { x: number; y: number; width: number; height: number };
  body_location?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** The line's fields when they have the manifest's shape (the gateway validates their values). */
function manifestLine(value: unknown): ManifestLine | undefined {
  if (!isObject(value) || typeof value.id !== "string" || typeof value.modality !== "string" || typeof value.path !== "string" || value.path === "") return undefined;
  if (value.body_location !== undefined && typeof value.body_location !== "string") return undefined;
  const line: ManifestLine = { id: value.id, modality: value.modality, path: value.path, ...(typeof value.body_location === "string" ? { body_location: value.body_location } : {}) };
  if (value.box === undefined) return line;
  const b = value.box;
  if (!isObject(b) || !isNumber(b.x) || !isNumber(b.y) || !isNumber(b.width) || !isNumber(b.height)) return undefined;
  return { ...line, box: { x: b.x, y: b.y, width: b.width, height: b.height } };
}

/**
 * A manifest: JSON Lines of {id, modality, path, box?: {x, y, width, height}, body_location?};
 * a relative path is relative to the manifest's folder. Read line by line. A line that does not
 * parse becomes an invalid item named after its line number (its text is not repeated: it may
 * hold anything).
 */
export async function* manifestItems(manifest: string): AsyncGenerator<ImportItem> {
  const base = dirname(resolve(manifest));
  const lines = createInterface({ input: createReadStream(manifest), crlfDelay: Infinity });
  let n = 0;
  for await (const text of lines) {
    n++;
    if (text.trim() === "") continue;
    yield lineItem(text, n, base);
  }
}

function lineItem(text: string, n: number, base: string): ImportItem {
  let parsed: ManifestLine | undefined;
  let modality: Modality;
  try {
    parsed = manifestLine(JSON.parse(text));
    if (!parsed) throw new AppError(ErrorCode.INVALID_ARGUMENT, "not a manifest line");
    modality = modalityFromName(parsed.modality);
  } catch (err) {
    const code = err instanceof AppError ? err.code : ErrorCode.INVALID_ARGUMENT;
    return { id: `line-${n}`, modality: Modality.UNSPECIFIED, path: "", invalid: new AppError(code, `manifest line ${n} is not {id, modality, path, box?, body_location?}`) };
  }
  return {
    id: parsed.id,
    modality,
    path: isAbsolute(parsed.path) ? parsed.path : join(base, parsed.path),
    ...(parsed.box ? { box: { xPx: parsed.box.x, yPx: parsed.box.y, widthPx: parsed.box.width, heightPx: parsed.box.height } } : {}),
    ...(parsed.body_location !== undefined ? { bodyLocation: parsed.body_location } : {}),
  };
}

/** Items of the source, counted without reading any image (for the progress bar's total). */
export async function countItems(items: AsyncIterable<ImportItem>): Promise<number> {
  let n = 0;
  for await (const _ of items) n++;
  return n;
}
