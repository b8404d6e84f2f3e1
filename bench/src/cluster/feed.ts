import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import type { JetStreamClient } from "nats";
import { encodeTemplateEvent, encodeTemplateF16, partitionOf, templateSubject } from "@taj/common";
import { Modality, ShardService, TemplateEventSchema } from "@taj/proto";
import type { ServiceClient } from "@taj/common";

export const BENCH_MODEL_ID = "bench-synthetic";

/** Gallery template i's id in the cluster; recall maps it back to i. */
export const idOf = (i: number) => `t${i}`;
export const indexOf = (id: string) => (/^t\d+$/.test(id) ? Number(id.slice(1)) : -1);

/**
 * Publishes one enrolment to the template log exactly as the gateway's Enroll does (same subject
 * layout, event, msgID de-duplication) and resolves with the stream sequence once JetStream acked it.
 */
export async function publishTemplate(js: JetStreamClient, partitionCount: number, id: string, template: Float32Array): Promise<number> {
  const event = create(TemplateEventSchema, {
    event: {
      case: "enrolled",
      value: { id, modality: Modality.FACE, templateF16: encodeTemplateF16(template), modelId: BENCH_MODEL_ID, enrolledAt: timestampNow() },
    },
  });
  const subject = templateSubject(Modality.FACE, partitionOf(id, partitionCount), id);
  const ack = await js.publish(subject, encodeTemplateEvent(event), { msgID: `bench-${id}`, timeout: 30_000 });
  return ack.seq;
}

/**
 * Publishes templates [from, to) with up to `window` publishes in flight; returns the last sequence.
 * `lastByPartition` gets each partition's last sequence: a shard's snapshot covers a partition
 * up to that partition's own last event, so a load is snapshotted once the lowest of them is.
 */
export async function publishRange(
  js: JetStreamClient, partitionCount: number, from: number, to: number, templateAt: (i: number) => Float32Array,
  lastByPartition: Map<number, number> = new Map(), window = 512,
): Promise<number> {
  let last = 0;
  const inflight = new Set<Promise<void>>();
  for (let i = from; i < to; i++) {
    const id = idOf(i);
    const partition = partitionOf(id, partitionCount);
    const p: Promise<void> = publishTemplate(js, partitionCount, id, templateAt(i)).then((seq) => {
      last = Math.max(last, seq);
      lastByPartition.set(partition, Math.max(lastByPartition.get(partition) ?? 0, seq));
      inflight.delete(p);
    });
    inflight.add(p);
    if (inflight.size >= window) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  return last;
}

export type ShardClient = ServiceClient<typeof ShardService.method>;

/**
 * Polls every shard's ShardStatus until its applied sequence reaches `sequence`; resolves with
 * the seconds each shard took (from `since`, a performance.now() value).
 */
export async function waitApplied(
  shards: Record<string, ShardClient>, sequence: number, since: number, timeoutMs: number, intervalMs = 200,
): Promise<Record<string, number>> {
  const done: Record<string, number> = {};
  const deadline = Date.now() + timeoutMs;
  while (Object.keys(done).length < Object.keys(shards).length) {
    if (Date.now() > deadline) throw new Error(`shards ${Object.keys(shards).filter((s) => !(s in done)).join(", ")} did not apply sequence ${sequence} in ${timeoutMs} ms`);
    await Promise.all(
      Object.entries(shards).filter(([name]) => !(name in done)).map(async ([name, client]) => {
        try {
          const s = await client.shardStatus({}, { timeoutMs: 2_000 });
          if (Number(s.appliedSequence) >= sequence) done[name] = (performance.now() - since) / 1000;
        } catch {
          // A busy or restarting shard: ask again next round.
        }
      }),
    );
    if (Object.keys(done).length < Object.keys(shards).length) await sleep(intervalMs);
  }
  return done;
}

/** Waits until every shard has a snapshot at `sequence` or later; false when the time ran out. */
export async function waitSnapshotted(shards: Record<string, ShardClient>, sequence: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const all = await Promise.all(
      Object.values(shards).map((c) => c.shardStatus({}, { timeoutMs: 2_000 }).then((s) => Number(s.snapshotSequence) >= sequence, () => false)),
    );
    if (all.every(Boolean)) return true;
    await sleep(1_000);
  }
  return false;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
