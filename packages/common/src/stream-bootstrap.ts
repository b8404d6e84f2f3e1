import type { JetStreamManager, StreamConfig } from "nats";
import { isStreamNotFound } from "./jetstream-errors.ts";
import { streamConfigOf, streamDifferences, type StreamSpec } from "./stream-settings.ts";

export interface BootstrapResult {
  stream: string;
  action: "created" | "updated" | "unchanged";
  /** What differed before an update. */
  changes: string[];
}

/** Settings JetStream cannot change on an existing stream: the bootstrap refuses instead of guessing. */
const IMMUTABLE: ReadonlyArray<keyof StreamConfig> = ["storage", "retention"];

/**
 * The cluster bootstrap's one job on NATS, and the only code that creates or changes a stream
 * (devcluster calls it, and `tajctl init` with the operator's credentials; the services only
 * verify, see StreamWatch). Creates each missing stream with its full configuration; an existing
 * one that differs in a required setting is updated to it, keeping the settings the operator owns
 * (retention of the audit trail). Running it again changes nothing.
 */
export async function bootstrapStreams(jsm: JetStreamManager, specs: StreamSpec[]): Promise<BootstrapResult[]> {
  const results: BootstrapResult[] = [];
  for (const spec of specs) {
    let current: StreamConfig | undefined;
    try {
      current = (await jsm.streams.info(spec.name)).config;
    } catch (err) {
      if (!isStreamNotFound(err)) throw err;
    }
    if (!current) {
      await jsm.streams.add(streamConfigOf(spec));
      results.push({ stream: spec.name, action: "created", changes: [] });
      continue;
    }
    const changes = streamDifferences(spec, current);
    if (changes.length === 0) {
      results.push({ stream: spec.name, action: "unchanged", changes });
      continue;
    }
    const fixed = spec.required.filter((r) => streamDifferences({ ...spec, required: [r] }, current).length > 0);
    const impossible = fixed.filter((r) => IMMUTABLE.includes(r.field));
    if (impossible.length > 0) {
      throw new Error(
        `stream ${spec.name}: ${impossible.map((r) => r.field).join(", ")} cannot be changed on an existing stream ` +
        `(${changes.join("; ")}); back it up, delete it and run init again`,
      );
    }
    const update: Partial<StreamConfig> = {};
    for (const r of fixed) Object.assign(update, { [r.field]: r.expected });
    await jsm.streams.update(spec.name, update);
    results.push({ stream: spec.name, action: "updated", changes });
  }
  return results;
}
