import { test } from "node:test";
import assert from "node:assert/strict";
import { IdTable } from "../src/index/id-table.ts";
import { CHUNK_ROWS, Int8Rows } from "../src/index/row-store.ts";
import { CLIP_SIGMAS, int8Cosine, quantize, quantizeWithInfo, scaleFor } from "../src/index/quantize.ts";
import { prng, unitVector } from "./helpers.ts";

test("id table: random pushes and removals agree with a Map model, through growth and shrinking", () => {
  const rand = prng(11);
  const table = new IdTable();
  const model: string[] = [];
  for (let step = 0; step < 60_000; step++) {
    // Grow to ~5000 ids, then mostly shrink, so both resizes run.
    const grow = step < 30_000 ? rand() < 0.7 : rand() < 0.3;
    if (grow || model.length === 0) {
      const id = `R${Math.floor(rand() * 1e9).toString(36)}-${step}`;
      assert.equal(table.push(id), model.length);
      model.push(id);
    } else {
      const row = Math.floor(rand() * model.length);
      assert.equal(table.removeRow(row), model[row]);
      model[row] = model[model.length - 1]!;
      model.pop();
    }
    if (step % 997 === 0) {
      assert.equal(table.size, model.length);
      model.forEach((id, row) => assert.equal(table.rowOf(id), row));
      assert.equal(table.rowOf("absent"), undefined);
    }
  }
  assert.deepEqual(table.ids(), model);
  const copy = IdTable.of(model);
  model.forEach((id, row) => assert.equal(copy.rowOf(id), row));
  assert.throws(() => IdTable.of(["a", "b", "a"]), /duplicate/);
});

test("id table: colliding probe runs survive deletions in any order (backward shift)", () => {
  // Many ids in a table of 1024 slots: long runs wrap around the end of the table.
  const ids = Array.from({ length: 500 }, (_, i) => `x${i}`);
  const table = IdTable.of(ids);
  const rand = prng(3);
  const left = [...ids];
  while (left.length > 0) {
    const id = left.splice(Math.floor(rand() * left.length), 1)[0]!;
    table.removeRow(table.rowOf(id)!);
    for (const other of left) assert.equal(table.idAt(table.rowOf(other)!), other);
    assert.equal(table.rowOf(id), undefined);
  }
});

test("int8 rows: appends across chunks, moves, exact-size load; nearest agrees with a brute-force cosine", () => {
  const dims = 16;
  const rand = prng(5);
  const rows = new Int8Rows(dims);
  const model: Int8Array[] = [];
  const n = CHUNK_ROWS + 5_000;
  for (let i = 0; i < n; i++) {
    const v = quantize(unitVector(rand, dims));
    assert.equal(rows.append(v), i);
    model.push(v);
  }
  // Remove some rows the way PartitionIndex does (the last moves into the hole).
  for (let r = 0; r < 3_000; r++) {
    const row = Math.floor(rand() * model.length);
    rows.moveLastInto(row);
    model[row] = model[model.length - 1]!;
    model.pop();
  }
  assert.equal(rows.size, model.length);
  assert.ok(rows.allocatedBytes < (model.length + CHUNK_ROWS) * dims, "never more than one chunk beyond the rows");
  for (const row of [0, 1, CHUNK_ROWS - 1, model.length - 1]) assert.deepEqual(rows.row(row), model[row]);
  for (let t = 0; t < 5; t++) {
    const q = quantize(unitVector(rand, dims));
    const expected = model.map((v, row) => ({ row, similarity: int8Cosine(q, v) })).sort((a, b) => b.similarity - a.similarity).slice(0, 10);
    assert.deepEqual(rows.nearest(q, 10).map((h) => h.row), expected.map((h) => h.row));
  }
  const bytes = Buffer.concat([...rows.segments()].map((s) => Buffer.from(s.buffer, s.byteOffset, s.byteLength)));
  const loaded = Int8Rows.fromBytes(dims, bytes);
  assert.equal(loaded.allocatedBytes, model.length * dims, "a loaded store has no growth room");
  assert.deepEqual(loaded.row(model.length - 1), model.at(-1));
  assert.throws(() => Int8Rows.fromBytes(dims, Buffer.alloc(dims + 1)), /whole rows/);
});

test("int8 rows: a row stored at a reduced scale is still found by its own probe", () => {
  const dims = 64;
  const rand = prng(8);
  const rows = new Int8Rows(dims);
  for (let i = 0; i < 5_000; i++) rows.append(quantize(unitVector(rand, dims)));
  // One spiky vector: a component far beyond 5 sigma forces a smaller scale, so its inner
  // products are low; the re-ranking by cosine must still put it first.
  const spiky = unitVector(rand, dims);
  spiky[0] = 3;
  const { vector, reduced } = quantizeWithInfo(spiky);
  assert.equal(reduced, true);
  const row = rows.append(vector);
  assert.equal(rows.nearest(quantize(spiky), 1)[0]!.row, row);
});

test("quantize: one scale for unit vectors of a dimension, whatever their length; zero stays zero", () => {
  const rand = prng(9);
  const v = unitVector(rand, 512);
  const doubled = v.map((x) => x * 2);
  assert.deepEqual(quantize(doubled), quantize(v));
  const q = quantize(v);
  const norm = Math.sqrt(q.reduce((a, x) => a + x * x, 0));
  assert.ok(Math.abs(norm - scaleFor(512)) < 2, `norm ${norm} vs ${scaleFor(512)}`);
  assert.equal(scaleFor(512), (127 * Math.sqrt(512)) / CLIP_SIGMAS);
  assert.ok(int8Cosine(q, quantize(v)) > 0.9999);
  assert.deepEqual(quantize(new Float32Array(8)), new Int8Array(8));
  // A 64-d unit vector along one axis would need 127·8/5 = 203: scaled down to 127 instead of clipped.
  const axis = new Float32Array(64);
  axis[3] = 1;
  const { vector, reduced } = quantizeWithInfo(axis);
  assert.equal(reduced, true);
  assert.equal(vector[3], 127);
});
