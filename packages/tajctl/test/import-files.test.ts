import { after, test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode, Modality } from "@taj/proto";
import { folderItems, manifestItems } from "../src/import-source.ts";
import { Journal, journalKey, readJournal } from "../src/import-journal.ts";

// The import's files on a real temp folder: its sources (folder, manifest) and its journal.
// The import itself against a cluster: test/enroll-stream.test.ts.
const dir = mkdtempSync(join(tmpdir(), "taj-import-files-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test("a folder: one item per file, id = the name without its extension; sub-folders and hidden files skipped", async () => {
  const folder = join(dir, "photos");
  mkdirSync(join(folder, "sub"), { recursive: true });
  for (const name of ["R1.jpg", "R2.tiff", "R3", ".DS_Store", "sub/R4.jpg"]) writeFileSync(join(folder, name), "x");
  const items = await all(folderItems(folder, Modality.TATTOO));
  assert.deepEqual(items.map((i) => [i.id, i.modality, i.path]).sort(), [
    ["R1", Modality.TATTOO, join(folder, "R1.jpg")],
    ["R2", Modality.TATTOO, join(folder, "R2.tiff")],
    ["R3", Modality.TATTOO, join(folder, "R3")],
  ]);
});

test("a manifest: fields mapped, relative paths from the manifest's folder, unusable lines reported by number without their text", async () => {
  const manifest = join(dir, "m.jsonl");
  writeFileSync(manifest, [
    JSON.stringify({ id: "F1", modality: "face", path: "a/F1.jpg" }),
    JSON.stringify({ id: "T1", modality: "tattoo", path: "/abs/T1.png", box: { x: 1, y: 2, width: 30, height: 40 }, body_location: "L ARM" }),
    "",
    "{not json, secret-name Dupont",
    JSON.stringify({ id: "X", modality: "fingerprint", path: "x.jpg" }),
    JSON.stringify({ id: "B", modality: "mark", path: "b.jpg", box: { x: "1" } }),
  ].join("\n"));
  const items = await all(manifestItems(manifest));
  assert.deepEqual(items.slice(0, 2), [
    { id: "F1", modality: Modality.FACE, path: join(dir, "a/F1.jpg") },
    { id: "T1", modality: Modality.TATTOO, path: "/abs/T1.png", box: { xPx: 1, yPx: 2, widthPx: 30, heightPx: 40 }, bodyLocation: "L ARM" },
  ]);
  assert.deepEqual(items.slice(2).map((i) => [i.id, i.invalid?.code]), [
    ["line-4", ErrorCode.INVALID_ARGUMENT],
    ["line-5", ErrorCode.UNSUPPORTED_MODALITY],
    ["line-6", ErrorCode.INVALID_ARGUMENT],
  ]);
  assert.ok(items.every((i) => !i.invalid?.message.includes("Dupont")));
});

test("the journal: appended entries are read back after close; a torn last line is ignored and the next run starts a fresh line", async () => {
  const path = join(dir, "j.import-journal");
  const journal = await Journal.open(path, { batch: 2, intervalMs: 60_000 });
  journal.append(Modality.FACE, "R1", 11n);
  journal.append(Modality.FACE, "R2", 12n);
  journal.append(Modality.TATTOO, "R1", 13n);
  await journal.close();
  assert.deepEqual([...(await readJournal(path))].sort(), [journalKey(Modality.FACE, "R1"), journalKey(Modality.FACE, "R2"), journalKey(Modality.TATTOO, "R1")].sort());

  appendFileSync(path, "face\tR9"); // killed mid-line: no sequence, no newline
  assert.equal((await readJournal(path)).has(journalKey(Modality.FACE, "R9")), false);
  const again = await Journal.open(path);
  again.append(Modality.FACE, "R5", 15n);
  await again.close();
  const keys = await readJournal(path);
  assert.ok(keys.has(journalKey(Modality.FACE, "R5")), "the entry after the torn line is whole");
  assert.equal(keys.has(journalKey(Modality.FACE, "R9")), false);
  assert.match(readFileSync(path, "utf8"), /face\tR9\nface\tR5\t15\n$/);
  assert.deepEqual(await readJournal(join(dir, "absent")), new Set());
});
