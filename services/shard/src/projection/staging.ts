import type { Etcd3 } from "etcd3";
import type { JetStreamClient, JetStreamManager } from "nats";
import type { Modality } from "@taj/proto";
import {
  modalityFromName, modalityName, projectionOf, readProjection, scanTemplateLog, watchActiveProjections, type Logger,
} from "@taj/common";
import type { IndexClient } from "../index/client.ts";
import { enrolledOps } from "../enrolled-ops.ts";
import type { ChangeOp } from "../index/store.ts";
import type { PartitionState } from "../partition-state.ts";
import type { Serial } from "../serial.ts";
import { projectWith, type ProjectionInUse, type Projector } from "./projector.ts";

export interface StagingDeps {
  etcd: Etcd3;
  index: IndexClient;
  state: PartitionState;
  serial: Serial;
  projector: Projector;
  logger: Logger;
  /** Called inside the serial queue once a modality's new indexes are in place (a snapshot records them). */
  onSwapped(modality: string): Promise<void>;
}

/**
 * Templates projected per batch: each costs input x output multiply-adds on the main thread
 * (~0.6 ms for 768 -> 512), so a small batch keeps gRPC and NATS responsive during a re-index.
 */
const BATCH = 64;
/** Once a pass over the log's new messages finds fewer than this, the last pass is run with the feed held. */
const CATCH_UP = 512;

export async function loadProjection(etcd: Etcd3, modality: Modality, version: number): Promise<ProjectionInUse> {
  const message = await readProjection(etcd, modality, version);
  if (!message) throw new Error(`${modalityName(modality)} projection version ${version} is not stored`);
  if (message.modality !== modality) throw new Error(`projection stored as ${modalityName(modality)} version ${version} names another modality`);
  return { version, modelId: message.modelId, map: projectionOf(message) };
}

/**
 * Follows the active projection of each modality (etcd) and moves the shard's indexes to it: the
 * modality is re-indexed from the template log (which keeps raw templates) into staging indexes,
 * while searches and the feed go on with the current ones; the last pass over the log's newest
 * messages runs in the serial queue, so the feed is held only for that, and the new indexes and
 * the projection used for probes are swapped in together. One modality at a time; an assignment
 * change or a newer activation starts the re-index over.
 */
export class ProjectionStaging {
  private readonly deps: StagingDeps;
  private readonly wanted = new Map<string, number>();
  /** Version that could not be loaded, per modality: not retried until another is activated. */
  private readonly failed = new Map<string, number>();
  private nats: { js: JetStreamClient; jsm: JetStreamManager } | undefined;
  private generation = 0;
  private running: Promise<void> | undefined;
  private stopped = false;
  private cancelWatch: () => Promise<void> = async () => {};

  private constructor(deps: StagingDeps) {
    this.deps = deps;
  }

  /**
   * Reads the active versions and sets them in the projector before the indexes are loaded (a
   * snapshot or the log replay then builds them with those), and watches for changes. Re-indexing
   * starts only once `begin` gives it the log.
   */
  static async open(deps: StagingDeps): Promise<ProjectionStaging> {
    const staging = new ProjectionStaging(deps);
    const watch = await watchActiveProjections(deps.etcd, deps.logger, (modality, version) => staging.want(modalityName(modality), version ?? 0));
    staging.cancelWatch = () => watch.cancel();
    for (const [modality, version] of watch.initial) {
      const name = modalityName(modality);
      staging.wanted.set(name, version);
      try {
        deps.projector.set(name, await loadProjection(deps.etcd, modality, version));
        deps.logger.info({ modality: name, version }, "projection in use");
      } catch (err) {
        staging.failed.set(name, version);
        deps.logger.error({ err, modality: name, version }, "active projection unusable: indexing raw templates");
      }
    }
    return staging;
  }

  begin(js: JetStreamClient, jsm: JetStreamManager): void {
    this.nats = { js, jsm };
    this.kick();
  }

  /** The owned partitions changed: a re-index under way covered the old ones, so it starts over. */
  restart(): void {
    if (!this.running) return;
    this.generation++;
    this.kick();
  }

  private want(modality: string, version: number): void {
    if (this.wanted.get(modality) === version) return;
    this.wanted.set(modality, version);
    this.failed.delete(modality);
    this.deps.logger.info({ modality, version }, version === 0 ? "projection deactivated: re-indexing raw templates" : "projection activated: re-indexing");
    this.generation++;
    this.kick();
  }

  private next(): [string, number] | undefined {
    for (const [modality, version] of this.wanted) {
      if (version !== this.deps.projector.versionOf(modality) && this.failed.get(modality) !== version) return [modality, version];
    }
    return undefined;
  }

  private kick(): void {
    if (this.running || !this.nats || this.stopped) return;
    this.running = (async () => {
      for (let job = this.next(); job && !this.stopped; job = this.next()) {
        const [modality, version] = job;
        try {
          await this.reindex(modality, version, this.generation);
        } catch (err) {
          this.deps.logger.error({ err, modality, version }, "re-indexing for a new projection failed; retrying");
          await new Promise((r) => setTimeout(r, 1_000).unref());
        }
      }
    })().finally(() => {
      this.running = undefined;
    });
  }

  private async reindex(modality: string, version: number, generation: number): Promise<void> {
    const { index, serial, projector, logger } = this.deps;
    let projection: ProjectionInUse | undefined;
    if (version > 0) {
      try {
        projection = await loadProjection(this.deps.etcd, modalityFromName(modality), version);
      } catch (err) {
        this.failed.set(modality, version);
        logger.error({ err, modality, version }, "active projection unusable: keeping the indexes as they are");
        return;
      }
    }
    const started = Date.now();
    const current = () => generation === this.generation && !this.stopped;
    await index.stageDrop(modality);
    let from = 1;
    for (;;) {
      const pass = await this.pass(modality, projection, from, current);
      if (!current()) return void (await index.stageDrop(modality));
      from = pass.head + 1;
      if (pass.read < CATCH_UP) break;
    }
    const swapped = await serial.run(async () => {
      if (!current()) return undefined;
      await this.pass(modality, projection, from, current);
      if (!current()) return undefined;
      // Both in one turn of the event loop: a search projected the old way reaches the worker
      // before the swap, one projected the new way after it.
      projector.set(modality, projection);
      const r = await index.stageSwap(modality);
      await this.deps.onSwapped(modality);
      return r;
    });
    if (!swapped) return void (await index.stageDrop(modality));
    logger.info({ modality, version, templates: swapped.templates, ms: Date.now() - started }, "re-indexed with the new projection; now in use");
  }

  /** Staging gets the log's messages of the modality from `from` to the head, for owned partitions. */
  private async pass(modality: string, projection: ProjectionInUse | undefined, from: number, current: () => boolean): Promise<{ head: number; read: number }> {
    const { js, jsm } = this.nats!;
    const { state, index, logger } = this.deps;
    const log = scanTemplateLog(js, jsm, { modality: modalityFromName(modality), fromSequence: from });
    let ops: ChangeOp[] = [];
    let read = 0;
    let skipped = 0;
    const flush = async () => {
      if (ops.length > 0) await index.stageApply(modality, ops);
      ops = [];
    };
    for (;;) {
      const r = await log.next();
      if (r.done) {
        await flush();
        if (skipped > 0) logger.warn({ modality, skipped }, "templates the projection does not take (another model or length) left out");
        return { head: r.value, read };
      }
      if (!current()) {
        await log.return(0);
        return { head: 0, read };
      }
      read++;
      const t = r.value;
      if (!state.owns(t.partition)) continue;
      const base = { modality, partition: t.partition, id: t.id };
      if (t.event?.event.case === "deleted") ops.push(base);
      else if (t.event?.event.case === "enrolled") {
        const made = enrolledOps(base, t.event.event.value, (modelId, raw) => projectWith(projection, modelId, raw));
        ops.push(...made.ops);
        skipped += made.skipped;
      }
      if (ops.length >= BATCH) await flush();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.generation++;
    await this.cancelWatch().catch(() => undefined);
    await this.running?.catch(() => undefined);
  }
}
