import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { TemplateEnrolledSchema } from "@taj/proto";
import { encodeTemplateF16 } from "@taj/common";
import { IndexClient, IndexWorkerError } from "../src/index/client.ts";
import { quantize } from "../src/index/quantize.ts";
import { enrolledOps } from "../src/enrolled-ops.ts";
import { prng, tempDir, unitVector } from "./helpers.ts";

// Templates of two models never meet: each (modality, model) is its own index. An enrolment during
// a model upgrade holds both models' templates and keeps the id in both; a later enrolment with
// one model takes it out of the other; a delete out of every one; snapshots keep the spaces apart.
const OPTIONS = { hnsw: { connectivity: 16, expansionAdd: 128, expansionSearch: 64, threads: 0 }, graphModalities: ["face"] };
const OLD = "face-model/v1";
const NEW = "face-model/v2";
const rand = prng(21);
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const base = (id: string) => ({ modality: "face", partition: Number(id.slice(2)) % 2, id });
/** The ops the live feed makes of an enrolled record holding `models`' templates. */
function enrolled(id: string, models: Record<string, Float32Array>) {
  const [first, ...others] = Object.entries(models);
  const record = create(TemplateEnrolledSchema, {
    id, modelId: first![0], templateF16: encodeTemplateF16(first![1]),
    otherModels: others.map(([modelId, t]) => ({ modelId, templateF16: encodeTemplateF16(t) })),
  });
  return enrolledOps(base(id), record, (_m, t) => t).ops;
}

async function idsOf(client: IndexClient, modelId: string, probe: Float32Array): Promise<string[]> {
  const results = await client.search("face", [0, 1], quantize(probe), 100, true, [], modelId);
  return results.flatMap((r) => r.hits.map((h) => h.id)).sort();
}

test("two models' templates are searched apart; upgrade enrolments keep both, a later enrolment or a delete moves or removes the id", async () => {
  const client = new IndexClient(OPTIONS);
  try {
    const old = Array.from({ length: 6 }, () => unitVector(rand, 32));
    // The new model has another length: its index is its own, so nothing compares across.
    const fresh = Array.from({ length: 6 }, () => unitVector(rand, 48));
    await client.apply(old.flatMap((t, i) => enrolled(`r-${i}`, { [OLD]: t })));
    assert.deepEqual(await idsOf(client, OLD, old[0]!), ["r-0", "r-1", "r-2", "r-3", "r-4", "r-5"]);
    assert.deepEqual(await idsOf(client, NEW, fresh[0]!), [], "no template of the new model yet");

    // TAJ re-sends r-0..r-3: each record holds both models' templates.
    await client.apply([0, 1, 2, 3].flatMap((i) => enrolled(`r-${i}`, { [OLD]: old[i]!, [NEW]: fresh[i]! })));
    assert.deepEqual(await idsOf(client, OLD, old[0]!), ["r-0", "r-1", "r-2", "r-3", "r-4", "r-5"], "the old model still covers everyone");
    assert.deepEqual(await idsOf(client, NEW, fresh[0]!), ["r-0", "r-1", "r-2", "r-3"]);
    const counts = await client.counts();
    const total = (m: string) => counts.filter((c) => c.modelId === m).reduce((n, c) => n + c.templates, 0);
    assert.deepEqual([total(OLD), total(NEW)], [6, 4], "counts per model: how far the new one covers");

    await assert.rejects(client.search("face", [0, 1], quantize(old[0]!), 5, true), (e) => e instanceof IndexWorkerError && e.invalid, "two models and none named: refused");
    await assert.rejects(client.search("face", [0, 1], quantize(old[0]!), 5, true, [], NEW), (e) => e instanceof IndexWorkerError && e.invalid, "a probe of another length for the model");

    // After the switch, enrolments carry the new model only: r-0 leaves the old index.
    await client.apply(enrolled("r-0", { [NEW]: fresh[0]! }));
    assert.deepEqual(await idsOf(client, OLD, old[1]!), ["r-1", "r-2", "r-3", "r-4", "r-5"]);
    await client.apply([{ ...base("r-1") }]);
    assert.deepEqual(await idsOf(client, OLD, old[2]!), ["r-2", "r-3", "r-4", "r-5"], "a delete leaves every model's index");
    assert.deepEqual(await idsOf(client, NEW, fresh[2]!), ["r-0", "r-2", "r-3"]);
    assert.deepEqual((await client.ids("face", 0)).sort(), ["r-0", "r-2", "r-4"], "ids of a partition, whatever their model");

    const dir = tempDir("taj-spaces-");
    dirs.push(dir);
    await client.snapshot(dir, { 0: 5, 1: 5 });
    const restored = new IndexClient(OPTIONS);
    try {
      assert.equal((await restored.load(dir, [0, 1])).templates, 7);
      assert.deepEqual(await idsOf(restored, OLD, old[2]!), ["r-2", "r-3", "r-4", "r-5"]);
      assert.deepEqual(await idsOf(restored, NEW, fresh[2]!), ["r-0", "r-2", "r-3"]);
    } finally {
      await restored.close();
    }
    // A snapshot of the release before model spaces is not loaded: the replica rebuilds from the log.
    const manifest = join(dir, "manifest.json");
    writeFileSync(manifest, readFileSync(manifest, "utf8").replace('"version":2', '"version":1'));
    const older = new IndexClient(OPTIONS);
    try {
      await assert.rejects(older.load(dir, [0, 1]), /predates per-model indexes/);
    } finally {
      await older.close();
    }
  } finally {
    await client.close();
  }
});
