import sharp from "sharp";
import { test } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { ErrorCode, ExtractorService, Modality } from "@taj/proto";
import { AppError, channelCredentials, createClient, createLogger, startMetrics, tlsFilesOf, wireTemplate, type CallContext } from "@taj/common";
import { sharedTestPki } from "@taj/devcluster";
import { Metadata } from "@grpc/grpc-js";
import { startExtractor } from "../src/server.ts";
import { extractHandler } from "../src/handlers/extract.ts";
import { Admission } from "../src/admission.ts";
import { createExtractorMetrics } from "../src/metrics.ts";
import { create } from "@bufbuild/protobuf";
import { ExtractRequestSchema } from "@taj/proto";
import { faceExtractor, LIMITS, rejectsWith, sample } from "./fixtures.ts";
import { noise } from "./crafted.ts";

/** The value of the one series of a metric (or of a histogram's _count) that has these labels. */
async function count(registry: Registry, metric: string, series: string, labels: Record<string, string>): Promise<number | undefined> {
  const json = (await registry.getMetricsAsJSON()).find((m) => m.name === metric);
  const values = (json?.values ?? []) as Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>;
  const found = values.filter((v) => (v.metricName ?? metric) === series && Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  assert.ok(found.length <= 1, `one series of ${series} with ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

const pki = sharedTestPki();
const tls = pki.issue("extractor", "extractor-under-test");
const env = {
  TLS_CA_FILE: tls.caFile,
  TLS_CERT_FILE: tls.certFile,
  TLS_KEY_FILE: tls.keyFile,
  TLS_RELOAD_INTERVAL_MS: 5_000,
  GRPC_HOST: "127.0.0.1",
  GRPC_PORT: 0,
  MODALITIES_CONFIG: undefined,
  MAX_IMAGE_BYTES: LIMITS.maxBytes,
  MAX_IMAGE_PIXELS: LIMITS.maxPixels,
  ORT_THREADS: 1,
  EXTRACT_MAX_IN_FLIGHT: undefined,
  EXTRACT_MAX_QUEUED: 16,
};

test("over gRPC: a template and quality for a chosen face; errors keep their code and boxes", async () => {
  const logger = createLogger("extractor-test", "silent");
  const metrics = await startMetrics("extractor", 0, "127.0.0.1", logger, { tls: tlsFilesOf(env) });
  const registry = metrics.registry;
  const { server } = await startExtractor(env, metrics, logger);
  await using _ = server;
  const client = createClient(ExtractorService, `127.0.0.1:${server.port}`, channelCredentials(pki.admin));
  try {
    const many = await rejectsWith(client.extract({ modality: Modality.FACE, image: sample("sample4.jpg") }, { timeoutMs: 30_000 }), ErrorCode.MULTIPLE_FACES);
    assert.equal(many.faces.length, 4);
    assert.equal(many.faceDetectionScores.length, 4, "each listed face's confidence, over gRPC");
    assert.ok(many.faceDetectionScores.every((s) => s > 0.65 && s <= 1));
    const chosen = many.faces[2]!;
    const r = await client.extract({ modality: Modality.FACE, image: sample("sample4.jpg"), faceBox: chosen }, { timeoutMs: 30_000 });
    assert.equal(r.template.length, 0, "the template goes as template_f32 only");
    assert.equal(r.templateF32.length, 4 * 512);
    const template = wireTemplate(r);
    assert.ok(Math.abs(template.reduce((s, x) => s + x * x, 0) - 1) < 1e-4);
    assert.equal(r.modelId, "faceplugin-fr-feature-512/align5-v1");
    assert.equal(r.quality?.imageWidthPx, 1920);
    assert.ok(Math.abs((r.quality?.box?.xPx ?? -1) - chosen.xPx) < 1);
    assert.ok((r.timings?.embedMs ?? 0) > 0);

    await rejectsWith(client.extract({ modality: Modality.FACE, image: noise(100) }), ErrorCode.IMAGE_UNSUPPORTED_FORMAT);
    const blank = await sharp({ create: { width: 300, height: 300, channels: 3, background: { r: 200, g: 160, b: 130 } } }).png().toBuffer();
    await rejectsWith(client.extract({ modality: Modality.TATTOO, image: blank }), ErrorCode.IMAGE_NEAR_UNIFORM);
    await rejectsWith(client.extract({ modality: Modality.UNSPECIFIED, image: sample("sample1.jpg") }), ErrorCode.UNSUPPORTED_MODALITY);
    await rejectsWith(
      client.extract({ modality: Modality.FACE, image: sample("sample1.jpg"), faceBox: { xPx: 0, yPx: 0, widthPx: -5, heightPx: 10 } }),
      ErrorCode.INVALID_ARGUMENT,
    );

    assert.equal(await count(registry, "taj_extract_stage_seconds", "taj_extract_stage_seconds_count", { modality: "face", stage: "embed" }), 1);
    assert.equal(await count(registry, "taj_extract_errors_total", "taj_extract_errors_total", { modality: "face", code: "MULTIPLE_FACES" }), 1);
    assert.equal(await count(registry, "taj_extract_errors_total", "taj_extract_errors_total", { modality: "tattoo", code: "IMAGE_NEAR_UNIFORM" }), 1);
    // Observed by the gRPC server itself (common's startGrpcServer), by outcome code.
    assert.equal(await count(registry, "taj_rpc_duration_seconds", "taj_rpc_duration_seconds_count", { rpc: "Extract", code: "OK", service: "extractor" }), 1);
    assert.equal(await count(registry, "taj_rpc_duration_seconds", "taj_rpc_duration_seconds_count", { rpc: "Extract", code: "MULTIPLE_FACES" }), 1);
    assert.equal(await count(registry, "taj_extractor_in_flight", "taj_extractor_in_flight", {}), 0);
    assert.equal(await count(registry, "taj_extractor_queue_depth", "taj_extractor_queue_depth", {}), 0);
    // every_face over gRPC: the four faces, left to right, each with its template and box.
    const every = await client.extract({ modality: Modality.FACE, image: sample("sample4.jpg"), everyFace: true }, { timeoutMs: 30_000 });
    assert.equal(every.facesFound, 4);
    assert.deepEqual(every.faces.map((f) => Math.round(f.quality?.box?.xPx ?? -1)), many.faces.map((f) => Math.round(f.xPx)));
    assert.ok(every.faces.every((f) => f.templateF32.length === 4 * 512 && f.error === undefined && f.quality?.imageWidthPx === 1920));
    assert.equal(every.templateF32.length, 0);
    await rejectsWith(client.extract({ modality: Modality.TATTOO, image: sample("sample4.jpg"), everyFace: true }, { timeoutMs: 30_000 }), ErrorCode.INVALID_ARGUMENT);
  } finally {
    client.close();
    await metrics.close();
  }
});

test("the handler refuses a call whose deadline has already passed", async () => {
  const registry = new Registry();
  const admission = new Admission({ maxInFlight: 1, maxQueued: 0 });
  const handler = extractHandler(await faceExtractor(), admission, createExtractorMetrics(registry, admission));
  const expired: CallContext = {
    deadline: Date.now() - 10, signal: new AbortController().signal, metadata: new Metadata(), peerCertificate: undefined, peerAddress: "test", malformedRequest: undefined,
  };
  const request = create(ExtractRequestSchema, { modality: Modality.FACE, image: sample("sample1.jpg") });
  await rejectsWith(handler(request, expired), ErrorCode.DEADLINE_EXCEEDED);
  assert.match(await registry.metrics(), /code="DEADLINE_EXCEEDED"\} 1/);
});

test("over gRPC: beyond its own in-flight and queue limits, an extractor answers OVERLOADED with retry advice", async () => {
  const logger = createLogger("extractor-test", "silent");
  await using metrics = await startMetrics("extractor", 0, "127.0.0.1", logger, { tls: tlsFilesOf(env) });
  const { server, admission } = await startExtractor({ ...env, EXTRACT_MAX_IN_FLIGHT: 1, EXTRACT_MAX_QUEUED: 1 }, metrics, logger);
  await using _ = server;
  const client = createClient(ExtractorService, `127.0.0.1:${server.port}`, channelCredentials(pki.admin));
  try {
    const image = sample("sample1.jpg");
    // Connection up, models warm, and a box so each call extracts one face.
    const faceBox = (await rejectsWith(client.extract({ modality: Modality.FACE, image }, { timeoutMs: 30_000 }), ErrorCode.MULTIPLE_FACES)).faces[0]!;
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, () =>
        client.extract({ modality: Modality.FACE, image, faceBox }, { timeoutMs: 30_000 }).then(
          () => "ok",
          (err: unknown) => {
            const e = AppError.from(err);
            assert.equal(e.code, ErrorCode.OVERLOADED, e.message);
            assert.ok(e.retryAfterMs > 0, "a refusal says when to retry");
            return "overloaded";
          },
        ),
      ),
    );
    const count = (o: string) => outcomes.filter((x) => x === o).length;
    assert.ok(count("ok") >= 2, `one running and one queued are served (${outcomes.join(",")})`);
    assert.ok(count("overloaded") >= 1, `the rest are refused, not queued without bound (${outcomes.join(",")})`);
    assert.equal(admission.inFlight + admission.queued, 0);
  } finally {
    client.close();
  }
});
