// The projections' etcd keys against a real etcd: versions allocated in order, the active pointer
// only to a stored version, the watch a shard relies on, and the size limit of one etcd request.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { startTestEtcd, type TestEtcd } from "@taj/devcluster";
import { ErrorCode, Modality, ProjectionSchema } from "@taj/proto";
import {
  AppError, activateProjection, activeProjectionKey, createLogger, deactivateProjection, learnProjection, listProjections, projectionMessage,
  projectionOf, readActiveVersions, readProjection, saveProjection, seededRng, watchActiveProjections,
} from "../src/index.ts";

let etcd: TestEtcd;
before(async () => {
  etcd = await startTestEtcd(19730, 19731);
});
after(async () => etcd.stop());

const logger = createLogger("test", "silent");

function learned(modality: Modality, seed: number) {
  const rand = seededRng(seed);
  const samples = Array.from({ length: 80 }, () => Float32Array.from({ length: 16 }, () => rand() - 0.2));
  return projectionMessage(learnProjection(samples, 8), { modality, modelId: "tattoo-m1", sampleSize: 80, createdBy: "ops-1" });
}

test("versions are 1, 2, ... per modality, stored whole, listed in order", async () => {
  const first = learned(Modality.TATTOO, 1);
  assert.equal(await saveProjection(etcd.client, first), 1);
  assert.equal(await saveProjection(etcd.client, learned(Modality.TATTOO, 2)), 2);
  assert.equal(await saveProjection(etcd.client, learned(Modality.MARK, 3)), 1, "each modality counts its own");
  const back = await readProjection(etcd.client, Modality.TATTOO, 1);
  assert.ok(back);
  assert.equal(back.version, 1);
  assert.equal(back.modelId, "tattoo-m1");
  assert.equal(back.createdBy, "ops-1");
  assert.deepEqual(projectionOf(back).matrix, projectionOf(first).matrix);
  assert.deepEqual((await listProjections(etcd.client, Modality.TATTOO)).map((p) => p.version), [1, 2]);
  assert.deepEqual((await listProjections(etcd.client)).map((p) => `${Modality[p.modality]}/${p.version}`), ["MARK/1", "TATTOO/1", "TATTOO/2"]);
  assert.equal(await readProjection(etcd.client, Modality.TATTOO, 9), undefined);
});

test("concurrent learners get distinct versions", async () => {
  const versions = await Promise.all([4, 5, 6, 7].map((seed) => saveProjection(etcd.client, learned(Modality.FACE, seed))));
  assert.deepEqual([...versions].sort(), [1, 2, 3, 4]);
});

test("activation names a stored version only; the watch sees it set, changed and removed", async () => {
  const seen: string[] = [];
  const watch = await watchActiveProjections(etcd.client, logger, (m, v) => seen.push(`${Modality[m]}=${v ?? "raw"}`));
  try {
    assert.equal(watch.initial.size, 0);
    await assert.rejects(activateProjection(etcd.client, Modality.TATTOO, 7), (err: unknown) => err instanceof AppError && err.code === ErrorCode.NOT_FOUND);
    assert.equal((await readActiveVersions(etcd.client)).size, 0, "a refused activation wrote nothing");
    await activateProjection(etcd.client, Modality.TATTOO, 1);
    await activateProjection(etcd.client, Modality.TATTOO, 2);
    assert.equal(await deactivateProjection(etcd.client, Modality.TATTOO), true);
    assert.equal(await deactivateProjection(etcd.client, Modality.TATTOO), false);
    await activateProjection(etcd.client, Modality.MARK, 1);
    for (let i = 0; i < 50 && seen.length < 4; i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(seen, ["TATTOO=1", "TATTOO=2", "TATTOO=raw", "MARK=1"]);
    assert.deepEqual([...(await readActiveVersions(etcd.client))], [[Modality.MARK, 1]]);
  } finally {
    await watch.cancel();
  }
  const again = await watchActiveProjections(etcd.client, logger, () => undefined);
  assert.deepEqual([...again.initial], [[Modality.MARK, 1]], "what a shard starting now reads");
  await again.cancel();
});

test("a key that holds no version reads as none, and the watch says so", async () => {
  const seen: (number | undefined)[] = [];
  const watch = await watchActiveProjections(etcd.client, logger, (_m, v) => seen.push(v));
  await etcd.client.put(activeProjectionKey("mark")).value("not-a-version");
  for (let i = 0; i < 50 && seen.length < 1; i++) await new Promise((r) => setTimeout(r, 50));
  await watch.cancel();
  assert.deepEqual(seen, [undefined]);
  assert.equal((await readActiveVersions(etcd.client)).has(Modality.MARK), false);
});

test("768 -> 512 fits one etcd request; a map too big for one is refused with the reason, nothing stored", async () => {
  const fits = create(ProjectionSchema, {
    modality: Modality.MARK, modelId: "m", inputDimensions: 768, outputDimensions: 512,
    mean: new Array<number>(768).fill(0), matrixF16: new Uint8Array(2 * 768 * 512), sampleSize: 1,
  });
  assert.equal(await saveProjection(etcd.client, fits), 2);
  const tooBig = { ...fits, inputDimensions: 1024, outputDimensions: 1024, mean: new Array<number>(1024).fill(0), matrixF16: new Uint8Array(2 * 1024 * 1024) };
  await assert.rejects(saveProjection(etcd.client, tooBig), (err: unknown) =>
    err instanceof AppError && err.code === ErrorCode.INVALID_ARGUMENT && /more than one etcd request takes .*choose fewer output dimensions/.test(err.message));
  await assert.rejects(saveProjection(etcd.client, { ...fits, mean: [1, 2] }), /mean has 2 values/);
  assert.deepEqual((await listProjections(etcd.client, Modality.MARK)).map((p) => p.version), [1, 2]);
});
