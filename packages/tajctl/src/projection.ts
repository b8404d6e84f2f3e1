import { readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import type { Etcd3 } from "etcd3";
import type { NatsConnection } from "nats";
import type { Modality, Projection } from "@taj/proto";
import {
  enrolledTemplate, learnProjection, modalityName, projectionMessage, saveProjection, scanTemplateLog, seededRng, type Rng, type TlsFiles,
} from "@taj/common";
import { PlanError } from "./plan.ts";

export interface TemplateSample {
  modelId: string;
  samples: Float32Array[];
  /** Enrolled templates of that model in the log (the sample is drawn from these). */
  population: number;
  /** Enrolled templates per model id, all models. */
  models: Map<string, number>;
  /** Templates of the model skipped for another length than its first. */
  skipped: number;
}

interface Reservoir {
  dims: number;
  seen: number;
  skipped: number;
  items: Float32Array[];
}

/**
 * A uniform random sample (reservoir) of the modality's current templates, read from the template
 * log. The log may still hold the message a write replaced (two kept per subject), so a first pass
 * over subjects and sequences only finds each id's current message. A projection maps one model's
 * templates only, so templates are sampled per model id; with more than one in the log, `modelId`
 * must say which.
 */
export async function sampleTemplates(nc: NatsConnection, modality: Modality, size: number, rand: Rng, modelId?: string): Promise<TemplateSample> {
  const js = nc.jetstream();
  const jsm = await nc.jetstreamManager({ timeout: 5_000 });
  const current = new Map<string, number>();
  for await (const t of scanTemplateLog(js, jsm, { modality, headersOnly: true })) current.set(`${t.partition}.${t.id}`, t.seq);
  const reservoirs = new Map<string, Reservoir>();
  for await (const t of scanTemplateLog(js, jsm, { modality })) {
    // A message newer than the first pass saw is current too.
    if (t.seq < (current.get(`${t.partition}.${t.id}`) ?? 0)) continue;
    if (t.event?.event.case !== "enrolled") continue;
    const e = t.event.event.value;
    if (modelId !== undefined && e.modelId !== modelId) continue;
    // Half precision in new records, float32 in old ones; empty when unusable.
    const template = enrolledTemplate(e);
    let r = reservoirs.get(e.modelId);
    if (!r) reservoirs.set(e.modelId, (r = { dims: template.length, seen: 0, skipped: 0, items: [] }));
    if (template.length !== r.dims || template.length === 0) {
      r.skipped++;
      continue;
    }
    r.seen++;
    if (r.items.length < size) r.items.push(template);
    else {
      const j = Math.floor(rand() * r.seen);
      if (j < size) r.items[j] = template;
    }
  }
  const models = new Map([...reservoirs].map(([m, r]) => [m, r.seen]));
  const name = modalityName(modality);
  if (reservoirs.size === 0) {
    throw new PlanError(modelId === undefined ? `the template log holds no ${name} template` : `the template log holds no ${name} template of model ${modelId}`);
  }
  if (reservoirs.size > 1) {
    const counts = [...models].map(([m, n]) => `${m || "(none)"}: ${n}`).join(", ");
    throw new PlanError(`the ${name} templates come from several models (${counts}): give --model-id`);
  }
  const [chosen, r] = [...reservoirs][0]!;
  return { modelId: chosen, samples: r.items, population: r.seen, models, skipped: r.skipped };
}

/** The operator who learned it, as the proto asks: the certificate's CN. */
export function operatorName(tls: TlsFiles): string {
  const subject = new X509Certificate(readFileSync(tls.certFile)).subject;
  return /^CN=(.*)$/m.exec(subject)?.[1] ?? "";
}

export interface LearnRequest {
  modality: Modality;
  dimensions: number;
  sample: number;
  seed?: number;
  modelId?: string;
  regularization?: number;
  createdBy: string;
}

export interface LearnResult {
  projection: Projection;
  population: number;
  varianceKept: number;
  skipped: number;
}

/** `tajctl projection learn`: samples the log, learns, stores a new version, never activates it. */
export async function learnAndStore(nc: NatsConnection, etcd: Etcd3, req: LearnRequest): Promise<LearnResult> {
  const rand = seededRng(req.seed ?? Date.now());
  const sample = await sampleTemplates(nc, req.modality, req.sample, rand, req.modelId);
  let learned;
  try {
    learned = learnProjection(sample.samples, req.dimensions, req.regularization === undefined ? {} : { regularization: req.regularization });
  } catch (err) {
    // Too few templates for the dimensions asked, or dimensions beyond the template's: the operator's to change.
    if (err instanceof RangeError) throw new PlanError(`cannot learn from ${sample.samples.length} ${modalityName(req.modality)} templates: ${err.message}`);
    throw err;
  }
  const message = projectionMessage(learned, { modality: req.modality, modelId: sample.modelId, sampleSize: sample.samples.length, createdBy: req.createdBy });
  const version = await saveProjection(etcd, message);
  return { projection: { ...message, version }, population: sample.population, varianceKept: learned.varianceKept, skipped: sample.skipped };
}
