import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import sharp from "sharp";
import { markDesign, renderMark, writeMarkDataset } from "@taj/samples";

const run = promisify(execFile);
const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const SIZE = { width: 96, height: 80 };

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), "taj-marks-"));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

test("the same seeds give the same designs and the same JPEG bytes", async () => {
  for (const modality of ["tattoo", "mark"] as const) {
    assert.equal(markDesign(modality, 7).svg, markDesign(modality, 7).svg);
    const a = await renderMark(markDesign(modality, 7), 11, SIZE);
    const b = await renderMark(markDesign(modality, 7), 11, SIZE);
    assert.ok(a.bytes.equals(b.bytes), `${modality} renderings differ for one seed`);
    assert.deepEqual(a.box, b.box);
  }
});

test("different identities give different designs and images; one design renders differently per seed", async () => {
  for (const modality of ["tattoo", "mark"] as const) {
    const svgs = new Set(Array.from({ length: 20 }, (_, i) => markDesign(modality, i).svg));
    assert.equal(svgs.size, 20, `${modality}: two identities share a design`);
    const one = await renderMark(markDesign(modality, 1), 5, SIZE);
    const other = await renderMark(markDesign(modality, 2), 5, SIZE);
    assert.ok(!one.bytes.equals(other.bytes));
    const again = await renderMark(markDesign(modality, 1), 6, SIZE);
    assert.ok(!one.bytes.equals(again.bytes));
  }
});

test("marks cover scars, piercings and moles or birthmarks", () => {
  const kinds = new Set(Array.from({ length: 40 }, (_, i) => markDesign("mark", i).kind));
  assert.ok(kinds.has("scar") && kinds.has("piercing") && (kinds.has("mole") || kinds.has("birthmark")), [...kinds].join(","));
  assert.equal(markDesign("tattoo", 3).kind, "tattoo");
});

test("renderings decode as JPEG at the asked size, with the design box inside the image", async () => {
  for (let seed = 0; seed < 12; seed++) {
    const r = await renderMark(markDesign(seed % 2 === 0 ? "tattoo" : "mark", seed), seed, SIZE);
    const meta = await sharp(r.bytes).metadata();
    assert.equal(meta.format, "jpeg");
    assert.deepEqual([meta.width, meta.height], [SIZE.width, SIZE.height]);
    const { x, y, width, height } = r.box;
    assert.ok(x >= 0 && y >= 0 && width > 0 && height > 0 && x + width <= SIZE.width && y + height <= SIZE.height, JSON.stringify(r.box));
    assert.ok(Math.abs(r.params.angleDeg) <= 25);
  }
});

test("the design is drawn where its box says: ink darkens the box, not the far corners", async () => {
  // A design of one large filled blob, so the box's middle is mostly ink.
  const design = { modality: "tattoo" as const, kind: "tattoo", svg: '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100" width="100" height="100"><rect x="10" y="10" width="80" height="80" fill="#000"/></svg>' };
  const r = await renderMark(design, 3, { width: 128, height: 128 });
  const { data } = await sharp(r.bytes).greyscale().raw().toBuffer({ resolveWithObject: true });
  const at = (x: number, y: number) => data[Math.round(y) * 128 + Math.round(x)]!;
  const centre = at(r.box.x + r.box.width / 2, r.box.y + r.box.height / 2);
  const corner = Math.max(at(1, 1), at(126, 1), at(1, 126), at(126, 126));
  assert.ok(centre < corner * 0.6, `centre ${centre}, corner ${corner}`);
});

test("writeMarkDataset writes one folder per identity, images in file-name order, and labels", async () => {
  const dir = join(work, "set");
  const labels = await writeMarkDataset(dir, { modality: "mark", identities: 3, perIdentity: 3, seed: 9, ...SIZE });
  const entries = (await readdir(dir)).sort();
  assert.deepEqual(entries, ["labels.json", "mark-000", "mark-001", "mark-002"]);
  for (const id of entries.slice(1)) assert.deepEqual((await readdir(join(dir, id))).sort(), ["00.jpg", "01.jpg", "02.jpg"]);
  assert.equal(labels.length, 9);
  assert.deepEqual(JSON.parse(await readFile(join(dir, "labels.json"), "utf8")), labels);
  // A second run with the same seed writes the same bytes.
  const again = join(work, "again");
  await writeMarkDataset(again, { modality: "mark", identities: 3, perIdentity: 3, seed: 9, ...SIZE });
  assert.ok((await readFile(join(dir, "mark-001", "02.jpg"))).equals(await readFile(join(again, "mark-001", "02.jpg"))));
});

test("npm run samples:marks writes the set, and refuses bad arguments with the usage text", async () => {
  const out = join(work, "cli");
  const script = join("packages", "samples", "src", "marks", "main.ts");
  const { stdout } = await run(process.execPath, ["--import", "tsx", script, "--modality", "tattoo", "--out", out, "--identities", "2", "--per-identity", "2", "--size", "64"], { cwd: REPO });
  assert.match(stdout, /2 tattoo identities, 4 images/);
  assert.deepEqual((await readdir(out)).sort(), ["labels.json", "tattoo-000", "tattoo-001"]);
  const meta = await sharp(join(out, "tattoo-001", "01.jpg")).metadata();
  assert.deepEqual([meta.width, meta.height], [64, 64]);
  await assert.rejects(run(process.execPath, ["--import", "tsx", script, "--modality", "face", "--out", out], { cwd: REPO }), (err: { code?: number; stderr?: string }) => {
    assert.equal(err.code, 64);
    assert.match(err.stderr ?? "", /--modality must be tattoo or mark[\s\S]*usage:/);
    return true;
  });
});
