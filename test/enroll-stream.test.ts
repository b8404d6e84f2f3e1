// Bulk enrolment end to end against a real local cluster (nats-server, etcd, real extractor
// models, shards): EnrollStream with the sample photos and bad items, then `tajctl import` over a
// folder, interrupted and resumed.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { ErrorCode, MatchingService, Modality, type Box, type EnrollStreamResponse } from "@taj/proto";
import { createClient, type ServiceClient } from "@taj/common";
import { startLocalCluster, withCallMetadata, type LocalCluster } from "@taj/devcluster";
import { loadSamplePhotos, searchFace, type SamplePhoto } from "@taj/samples";
import { buildProgram, folderItems, runImport } from "@taj/tajctl";
import type { Metadata } from "@grpc/grpc-js";

type Client = ServiceClient<typeof MatchingService.method>;

const dir = mkdtempSync(join(tmpdir(), "taj-bulk-"));
let cluster: LocalCluster;
/** For streams: the metadata is passed per call (withCallMetadata wraps unary calls only). */
let raw: Client;
let client: Client;
let metadata: Metadata;
let token: string;
const photos: SamplePhoto[] = [];

/** Faces of the sample photos, as MULTIPLE_FACES listed them: the image and the box to send back. */
interface Face {
  id: string;
  photo: SamplePhoto;
  box: Box;
}
const faces: Face[] = [];

before(async () => {
  cluster = await startLocalCluster({ dir: join(dir, "cluster"), basePort: 25200, shardsPerSite: 1, partitionCount: 4, extractors: 2, logLevel: "warn" });
  metadata = await cluster.issuer.metadata({ sub: "migration-test", roles: ["enroll", "search", "admin", "audit"] });
  token = String(metadata.get("authorization")[0]).replace(/^Bearer /, "");
  raw = createClient(MatchingService, cluster.addresses.gateway, cluster.credentials("bearer"));
  client = withCallMetadata(raw, metadata);
  photos.push(...(await loadSamplePhotos()));
});

after(async () => {
  raw?.close();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Sends every request over one EnrollStream and returns the answers by item number. */
async function streamAll(requests: Array<{ item: bigint; enroll?: { modality: Modality; id: string; image: Uint8Array; faceBox?: Box } }>) {
  const call = raw.enrollStream({ metadata, timeoutMs: 300_000 });
  const answers = new Map<bigint, EnrollStreamResponse>();
  const reading = (async () => {
    for await (const r of call.responses) answers.set(r.item, r);
  })();
  for (const r of requests) await call.write(r);
  call.end();
  await reading;
  return answers;
}

const codeOf = (r: EnrollStreamResponse | undefined) => (r?.outcome.case === "error" ? ErrorCode[r.outcome.value.code] : r?.outcome.case);

async function caughtUp(): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const s = await client.stats({});
    if (s.shards.length > 0 && s.shards.every((sh) => sh.alive && sh.appliedSequence >= s.logLastSequence)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail("the shards did not catch up with the log");
}

const notAnImage = new Uint8Array(Buffer.from("this is a text file, not a photo\n".repeat(20)));
/** A flat grey photo: decodes fine, holds no face. */
const noFace = () => sharp({ create: { width: 400, height: 400, channels: 3, background: { r: 128, g: 128, b: 128 } } }).jpeg().toBuffer();

describe("EnrollStream with the sample photos", () => {
  test("one item per photo: each answered by its item number; group photos answer MULTIPLE_FACES with their faces", async () => {
    const answers = await streamAll(photos.map((p, i) => ({ item: BigInt(i + 1), enroll: { modality: Modality.FACE, id: `PHOTO${i + 1}`, image: p.bytes } })));
    assert.equal(answers.size, photos.length);
    for (const [i, photo] of photos.entries()) {
      const r = answers.get(BigInt(i + 1));
      assert.equal(r?.id, `PHOTO${i + 1}`);
      if (r?.outcome.case === "error") {
        assert.equal(ErrorCode[r.outcome.value.code], "MULTIPLE_FACES", `${photo.name}: ${r.outcome.value.message}`);
        for (const box of r.outcome.value.faces) faces.push({ id: `BULK${String(faces.length + 1).padStart(3, "0")}`, photo, box });
      } else {
        assert.equal(r?.outcome.case, "logSequence");
      }
    }
    assert.ok(faces.length >= 15, `the photos listed ${faces.length} faces`);
  });

  test("~20 faces and bad items in one stream: per-item results, the bad ones never end the stream, the good ones are searchable", async () => {
    const requests: Parameters<typeof streamAll>[0] = faces.map((f, i) => ({ item: BigInt(100 + i), enroll: { modality: Modality.FACE, id: f.id, image: f.photo.bytes, faceBox: f.box } }));
    // The bad ones in the middle, so good items come after them on the same stream.
    const middle = Math.floor(requests.length / 2);
    requests.splice(middle, 0,
      { item: 1n, enroll: { modality: Modality.FACE, id: "BAD-NOT-IMAGE", image: notAnImage } },
      { item: 2n, enroll: { modality: Modality.FACE, id: "bad id!", image: faces[0]!.photo.bytes, faceBox: faces[0]!.box } },
      { item: 3n, enroll: { modality: Modality.FACE, id: "BAD-NO-FACE", image: await noFace() } },
      { item: 4n },
    );
    const started = performance.now();
    const answers = await streamAll(requests);
    const seconds = (performance.now() - started) / 1000;
    assert.equal(answers.size, requests.length, "one answer per item");
    assert.equal(codeOf(answers.get(1n)), "IMAGE_UNSUPPORTED_FORMAT");
    assert.equal(codeOf(answers.get(2n)), "INVALID_ID");
    assert.equal(answers.get(2n)?.id, "bad id!", "the id is echoed as sent");
    assert.equal(codeOf(answers.get(3n)), "NO_FACE");
    assert.equal(codeOf(answers.get(4n)), "INVALID_ARGUMENT");
    const enrolled: Face[] = [];
    const refused: string[] = [];
    for (const [i, f] of faces.entries()) {
      const r = answers.get(BigInt(100 + i));
      assert.equal(r?.id, f.id);
      if (r?.outcome.case === "logSequence") {
        assert.ok(r.outcome.value > 0n);
        enrolled.push(f);
      } else {
        // A face of a group photo may rightly be refused (too small, quality); never anything else.
        assert.ok(["FACE_TOO_SMALL", "FACE_QUALITY_LOW", "BOX_MATCHES_NO_FACE"].includes(codeOf(r) ?? ""), `${f.id}: ${codeOf(r)}`);
        refused.push(`${f.id}:${codeOf(r)}`);
      }
    }
    assert.ok(enrolled.length >= 15, `enrolled ${enrolled.length} of ${faces.length} (refused: ${refused.join(" ")})`);
    console.log(`EnrollStream: ${requests.length} items (${enrolled.length} enrolled) in ${seconds.toFixed(2)} s = ${(requests.length / seconds).toFixed(1)} items/s, 2 extractors`);

    await caughtUp();
    for (const f of enrolled) {
      const centre = { x: f.box.xPx + f.box.widthPx / 2, y: f.box.yPx + f.box.heightPx / 2 };
      const answer = await searchFace(client, f.photo.bytes, centre, { threshold: 0, maxCandidates: 3 });
      assert.equal(answer.candidates[0]?.id, f.id, `${f.id} is found at rank 1 from its own photo and box`);
    }

    // One audit event per item, with its log sequence (and the refused items, with their code).
    const audit = await client.queryAudit({ rpc: "EnrollStream", pageSize: 1000 });
    const events = audit.entries.map((e) => e.event!);
    const first = answers.get(100n)!;
    const event = events.find((e) => e.recordId === first.id);
    assert.equal(event?.outcome, first.outcome.case === "logSequence" ? "OK" : codeOf(first));
    if (first.outcome.case === "logSequence") assert.equal(event?.logSequence, first.outcome.value);
    assert.equal(events.find((e) => e.recordId === "BAD-NO-FACE")?.outcome, "NO_FACE");
    assert.equal(event?.principal?.id, "oidc:migration-test");
  });

  test("re-sending an id replaces its template: one current template per id", async () => {
    const [a, b] = [faces[0]!, faces[1]!];
    const answers = await streamAll([
      { item: 1n, enroll: { modality: Modality.FACE, id: "BULK-RESEND", image: a.photo.bytes, faceBox: a.box } },
    ]);
    const again = await streamAll([
      { item: 1n, enroll: { modality: Modality.FACE, id: "BULK-RESEND", image: b.photo.bytes, faceBox: b.box } },
    ]);
    assert.equal(codeOf(answers.get(1n)), "logSequence");
    assert.equal(codeOf(again.get(1n)), "logSequence");
    const got = await client.get({ modality: Modality.FACE, id: "BULK-RESEND" });
    assert.equal(again.get(1n)?.outcome.value, got.logSequence, "the id's template is the second one");
  });
});

describe("tajctl import", () => {
  test("a folder: interrupted, then resumed; the second run skips the journalled ids, failures are listed with their codes", async () => {
    const folder = join(dir, "photos");
    mkdirSync(folder);
    // One file per face: its region of the group photo with a margin (a crop may still be refused).
    for (const f of faces.slice(0, 12)) {
      const meta = await sharp(f.photo.bytes).metadata();
      const margin = Math.round(Math.max(f.box.widthPx, f.box.heightPx) * 0.5);
      const left = Math.max(0, Math.round(f.box.xPx) - margin);
      const top = Math.max(0, Math.round(f.box.yPx) - margin);
      const width = Math.min(meta.width - left, Math.round(f.box.widthPx) + 2 * margin);
      const height = Math.min(meta.height - top, Math.round(f.box.heightPx) + 2 * margin);
      writeFileSync(join(folder, `IMP-${f.id}.jpg`), await sharp(f.photo.bytes).extract({ left, top, width, height }).jpeg().toBuffer());
    }
    writeFileSync(join(folder, "IMP-NOT-IMAGE.jpg"), notAnImage);
    writeFileSync(join(folder, "bad id!.jpg"), await noFace());
    writeFileSync(join(folder, "IMP-NO-FACE.png"), await sharp(await noFace()).png().toBuffer());
    const files = 15;
    const journal = `${folder}.import-journal`;
    const failures = `${folder}.import-failures`;

    // Run 1, stopped (as by Ctrl-C) once 4 items were acknowledged.
    const abort = new AbortController();
    const first = await runImport({
      client: raw, metadata, items: folderItems(folder, Modality.FACE), journalPath: journal, failuresPath: failures,
      window: 4, retries: 3, signal: abort.signal,
      onProgress: (p) => p.enrolled >= 4 && abort.abort(),
    });
    assert.equal(first.interrupted, true);
    const journalled = readFileSync(journal, "utf8").trim().split("\n");
    assert.ok(journalled.length >= 4 && journalled.length < files, `${journalled.length} journalled after the interruption`);
    for (const line of journalled) assert.match(line, /^face\tIMP-BULK\d{3}\t\d+$/);

    // Run 2: the command itself.
    const out: string[] = [];
    const started = performance.now();
    await buildProgram((s) => out.push(s), { cwd: dir }).parseAsync([
      "node", "tajctl", "--tls-ca", cluster.pki.caFile, "--tls-cert", cluster.pki.admin.certFile, "--tls-key", cluster.pki.admin.keyFile,
      "import", folder, "--modality", "face", "--gateway", cluster.addresses.gateway, "--token", token,
    ]);
    const seconds = (performance.now() - started) / 1000;
    assert.equal(process.exitCode, 1, "items failed: exit code 1");
    process.exitCode = 0;
    assert.match(out[0] ?? "", new RegExp(`skipped ${journalled.length} \\(journal\\) of ${files}`));
    console.log(`tajctl import (resumed run): ${out[0]} [${seconds.toFixed(2)} s]`);

    const all = readFileSync(journal, "utf8").trim().split("\n").map((l) => l.split("\t")[1]!);
    const failed = readFileSync(failures, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { id: string; code: string; message: string; path: string });
    const byId = new Map(failed.map((f) => [f.id, f]));
    assert.equal(byId.get("IMP-NOT-IMAGE")?.code, "IMAGE_UNSUPPORTED_FORMAT");
    assert.equal(byId.get("bad id!")?.code, "INVALID_ID");
    assert.equal(byId.get("IMP-NO-FACE")?.code, "NO_FACE");
    for (const f of failed) assert.ok(!("image" in f) && f.message.length < 300);
    // Every file is settled once: journalled (run 1 or 2) or failed in run 2; nothing journalled twice.
    assert.equal(new Set(all).size, all.length, "no id journalled twice");
    assert.deepEqual([...new Set([...all, ...failed.map((f) => f.id)])].sort(), (await listIds(folder)).sort());
    assert.ok(all.length >= 9, `${all.length} of 12 face crops enrolled`);
    for (const id of all) assert.ok((await client.get({ modality: Modality.FACE, id })).logSequence > 0n);

    // Run 3: everything acknowledged is skipped; only the failures are sent again.
    const third = await runImport({ client: raw, metadata, items: folderItems(folder, Modality.FACE), journalPath: journal, failuresPath: failures, window: 4, retries: 0 });
    assert.deepEqual([third.skipped, third.enrolled, third.failed, third.interrupted], [all.length, 0, failed.length, false]);
  });
});

async function listIds(folder: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const item of folderItems(folder, Modality.FACE)) ids.push(item.id);
  return ids;
}
