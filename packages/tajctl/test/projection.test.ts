// `tajctl projection` against a real NATS (the template log) and etcd: templates sampled from the
// log, a version stored and not activated, activation refused for a version not stored, the
// models of the log told apart, and the stored map really separating the log's templates.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { connect, type NatsConnection } from "nats";
import { spawn, type ChildProcess } from "node:child_process";
import { ensureServerBinaries, sharedTestPki, startTestEtcd, waitFor, type TestEtcd } from "@taj/devcluster";
import { ErrorCode, Modality, TemplateEventSchema } from "@taj/proto";
import {
  AppError, applyProjection, bootstrapStreams, clusterStreams, encodeTemplateEvent, natsTls, partitionOf, projectionOf, readActiveVersions,
  readProjection, seededRng, templateSubject, type Rng,
} from "@taj/common";
import { buildProgram } from "../src/cli.ts";
import { PlanError } from "../src/plan.ts";

const pki = sharedTestPki();
const dir = mkdtempSync(join(tmpdir(), "taj-tajctl-projection-"));
const NATS_URL = "nats://127.0.0.1:19735";
let natsServer: ChildProcess;
let etcd: TestEtcd;
let nc: NatsConnection;

before(async () => {
  // One plain JetStream server with mutual TLS (no user map: the admin certificate may do all, as in a cluster).
  const tls = pki.issue("nats", "projection-nats");
  natsServer = spawn(ensureServerBinaries().natsServer, ["-js", "-sd", join(dir, "nats"), "-a", "127.0.0.1", "-p", "19735",
    "--tlsverify", "--tlscert", tls.certFile, "--tlskey", tls.keyFile, "--tlscacert", tls.caFile], { stdio: "ignore" });
  // Also when the run is cut short: a server left on the port would fail the next run's TLS.
  process.once("exit", () => natsServer.kill("SIGKILL"));
  etcd = await startTestEtcd(19738, 19739);
  nc = await waitFor("nats-server", () => connect({ servers: NATS_URL, reconnect: false, ...natsTls(pki.admin, "admin") }), { timeoutMs: 20_000 });
  await bootstrapStreams(await nc.jetstreamManager(), clusterStreams({ replicas: 1 }));
});
after(async () => {
  await nc?.close();
  natsServer?.kill("SIGKILL");
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function gaussian(rand: Rng): number {
  return Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
}

const DIMS = 32;
const rand = seededRng(5);
// Every template shares one large direction, as tattoo embeddings do (different tattoos at cosine ~0.9).
const common = Float64Array.from({ length: DIMS }, () => gaussian(rand));
const tattoo = () => Array.from(common, (c) => c + 0.3 * gaussian(rand));

async function enrol(modality: Modality, id: string, template: number[], modelId: string): Promise<void> {
  const event = create(TemplateEventSchema, { event: { case: "enrolled", value: { id, modality, template, modelId } } });
  await nc.jetstream().publish(templateSubject(modality, partitionOf(id, 16), id), encodeTemplateEvent(event));
}

async function remove(modality: Modality, id: string): Promise<void> {
  const event = create(TemplateEventSchema, { event: { case: "deleted", value: { id, modality } } });
  await nc.jetstream().publish(templateSubject(modality, partitionOf(id, 16), id), encodeTemplateEvent(event));
}

async function tajctl(...args: string[]): Promise<string[]> {
  const lines: string[] = [];
  const program = buildProgram((s) => lines.push(s), { cwd: dir });
  // Commander exits the process on a bad flag; every (sub)command throws instead, so the test sees it.
  const throwing = (c: typeof program): void => {
    c.exitOverride().configureOutput({ writeErr: () => undefined });
    c.commands.forEach(throwing);
  };
  throwing(program);
  await program.parseAsync([
    "node", "tajctl", "--etcd", etcd.endpoint, "--nats", NATS_URL,
    "--tls-ca", pki.admin.caFile, "--tls-cert", pki.admin.certFile, "--tls-key", pki.admin.keyFile, ...args,
  ]);
  return lines;
}

const stored: number[][] = [];

test("learn: samples the modality's current templates from the log, stores version 1, leaves it inactive", async () => {
  for (let i = 0; i < 300; i++) {
    const t = tattoo();
    stored.push(t);
    await enrol(Modality.TATTOO, `t-${i}`, t, "tattoo-v1");
  }
  // Deleted ones are no longer in the log's current set; another modality is not read.
  for (let i = 0; i < 20; i++) await remove(Modality.TATTOO, `t-${i}`);
  for (let i = 0; i < 50; i++) await enrol(Modality.MARK, `m-${i}`, Array.from({ length: 8 }, () => gaussian(rand)), "mark-v1");

  const [json] = await tajctl("projection", "learn", "--modality", "tattoo", "--dimensions", "16", "--sample", "200", "--seed", "3", "--json");
  const result = JSON.parse(json!) as Record<string, unknown>;
  assert.equal(result.version, 1);
  assert.equal(result.modelId, "tattoo-v1");
  assert.equal(result.population, 280, "300 enrolled, 20 deleted");
  assert.equal(result.sampleSize, 200);
  assert.equal(result.active, false);
  assert.equal((await readActiveVersions(etcd.client)).size, 0, "learning never activates");

  const p = await readProjection(etcd.client, Modality.TATTOO, 1);
  assert.ok(p);
  assert.equal(p.inputDimensions, DIMS);
  assert.equal(p.outputDimensions, 16);
  assert.equal(p.createdBy, "admin", "the operator certificate's CN");
  // The stored map does what it is for: templates of different ids no longer look alike.
  const map = projectionOf(p);
  const meanCosine = (vs: ArrayLike<number>[]) => {
    let sum = 0, n = 0;
    for (let i = 0; i < 60; i++) for (let j = i + 1; j < 60; j++, n++) {
      let ab = 0, aa = 0, bb = 0;
      for (let k = 0; k < vs[i]!.length; k++) {
        ab += vs[i]![k]! * vs[j]![k]!;
        aa += vs[i]![k]! ** 2;
        bb += vs[j]![k]! ** 2;
      }
      sum += ab / Math.sqrt(aa * bb);
    }
    return sum / n;
  };
  const raw = stored.slice(20);
  assert.ok(meanCosine(raw) > 0.8, `raw ${meanCosine(raw)}`);
  assert.ok(Math.abs(meanCosine(raw.map((t) => applyProjection(map, t)))) < 0.15, "projected different ids are near orthogonal");
});

test("list shows the versions and the active one; activate refuses a version not stored, then switches", async () => {
  const listed = (await tajctl("projection", "list")).join("\n");
  assert.match(listed, /tattoo\s*│\s*1\s*│\s*│\s*tattoo-v1\s*│\s*32 -> 16\s*│\s*200/);
  await assert.rejects(tajctl("projection", "activate", "--modality", "tattoo", "--version", "2"),
    (err: unknown) => err instanceof AppError && err.code === ErrorCode.NOT_FOUND && /no tattoo projection version 2/.test(err.message));
  assert.equal((await readActiveVersions(etcd.client)).size, 0);
  const [said] = await tajctl("projection", "activate", "--modality", "tattoo", "--version", "1");
  assert.match(said!, /tattoo: version 1 active/);
  assert.deepEqual([...(await readActiveVersions(etcd.client))], [[Modality.TATTOO, 1]]);
  const json = JSON.parse((await tajctl("projection", "list", "--json")).join("")) as { version: number; active: boolean }[];
  assert.deepEqual(json.map((p) => [p.version, p.active]), [[1, true]]);
  const [off] = await tajctl("projection", "deactivate", "--modality", "tattoo");
  assert.match(off!, /no projection active now/);
  assert.equal((await readActiveVersions(etcd.client)).size, 0);
});

test("templates of two models: refused without --model-id, learned on the one named", async () => {
  for (let i = 0; i < 40; i++) await enrol(Modality.TATTOO, `n-${i}`, Array.from({ length: 24 }, () => gaussian(rand)), "tattoo-v2");
  await assert.rejects(tajctl("projection", "learn", "--modality", "tattoo", "--dimensions", "8"),
    (err: unknown) => err instanceof PlanError && /several models \(tattoo-v1: 280, tattoo-v2: 40\): give --model-id/.test(err.message));
  const [json] = await tajctl("projection", "learn", "--modality", "tattoo", "--dimensions", "8", "--model-id", "tattoo-v2", "--json");
  const result = JSON.parse(json!) as Record<string, unknown>;
  assert.deepEqual([result.version, result.modelId, result.inputDimensions, result.sampleSize], [2, "tattoo-v2", 24, 40]);
});

test("refusals: more dimensions than the sample can whiten, a modality with no template, an unknown modality", async () => {
  await assert.rejects(tajctl("projection", "learn", "--modality", "tattoo", "--model-id", "tattoo-v2", "--dimensions", "24", "--sample", "20"),
    (err: unknown) => err instanceof PlanError && /cannot learn from 20 tattoo templates: .*more samples than dimensions/.test(err.message));
  await assert.rejects(tajctl("projection", "learn", "--modality", "face", "--dimensions", "8"),
    (err: unknown) => err instanceof PlanError && /holds no face template/.test(err.message));
  await assert.rejects(tajctl("projection", "learn", "--modality", "iris", "--dimensions", "8"), /expected face, tattoo or mark/);
  assert.deepEqual((await tajctl("projection", "list", "--modality", "face")), ["no projection stored"]);
});
