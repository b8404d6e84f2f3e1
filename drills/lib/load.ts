import { setTimeout as sleep } from "node:timers/promises";
import type { ChannelCredentials } from "@grpc/grpc-js";
import { AppError, createClient, errorCodeName, GATEWAYS, shouldTryAnother, type ServiceClient } from "@taj/common";
import { MatchingService, Modality } from "@taj/proto";
import type { Probe } from "./probes.ts";

type Client = ServiceClient<typeof MatchingService.method>;

export interface SearchLane {
  /** Shown in the report, e.g. "client" (fails over a -> b) or "site-a" (gateway a only). */
  name: string;
  /** Tried in order; the next only on UNAVAILABLE / DEADLINE_EXCEEDED. */
  gateways: string[];
}

export interface WriterLane {
  /** Shown in the report and part of the ids it writes, e.g. "w" or "site-b". */
  name: string;
  gateways: string[];
}

export interface LoadOptions {
  /** TAJ's system identity (a client certificate) for every call to the public API. */
  credentials: ChannelCredentials;
  /** Gateways the writer uses, in order of preference (the client's failover list). */
  gateways: string[];
  /** Writers; default one, "w", over `gateways`. Each enrolls its own ids and deletes only those. */
  writers?: WriterLane[];
  probes: Probe[];
  /** Unique per run: ids are `DRILL-<runId>-<n>`. */
  runId: string;
  durationMs: number;
  /** Bound on calls of every kind (writes + searches, retries included). */
  maxOps: number;
  /** Search loops; default one lane over `gateways`. */
  searchLanes?: SearchLane[];
  /** Budget of one call to one gateway. */
  callTimeoutMs?: number;
  /** A delete follows every `deleteEvery`-th enrollment (default 3). */
  deleteEvery?: number;
  /** Only ids acknowledged at least this long ago are deleted (default 1 s). */
  deleteMinAgeMs?: number;
  /** Pause between two searches of one lane, and between two writes (default 50 ms / 20 ms). */
  searchPauseMs?: number;
  writePauseMs?: number;
}

export interface AckedWrite {
  id: string;
  writer: string;
  seq: bigint;
  /** ms since epoch, when the acknowledgement arrived. */
  at: number;
  gateway: string;
  /** Gateways tried before this one answered (0 = first choice). */
  failovers: number;
}

export interface SearchRecord {
  lane: string;
  start: number;
  end: number;
  ok: boolean;
  code?: string;
  complete?: boolean;
  gateway?: string;
}

export interface LoadResult {
  runId: string;
  idPrefix: string;
  start: number;
  end: number;
  enrolled: AckedWrite[];
  deleted: AckedWrite[];
  /** Ids whose enrollment got no answer from any gateway: they may or may not be stored. */
  uncertainEnrolls: string[];
  /** Acknowledged ids whose delete was never acknowledged before the end: either state is allowed. */
  uncertainDeletes: string[];
  searches: SearchRecord[];
  /** op -> error code -> count, counting every failed attempt at one gateway. */
  errors: Record<string, Record<string, number>>;
  ops: number;
  marks: Array<{ label: string; at: number }>;
}

export interface LoadRun {
  /** Timestamps an event (cut, restore, kill) for the report. */
  mark(label: string): number;
  /** Ends the loops early; `done` then resolves. */
  stop(): void;
  /** The record so far (live: it keeps growing until `done`). */
  snapshot(): Readonly<LoadResult>;
  readonly done: Promise<LoadResult>;
}

/** The common retry policy for gateways: unreachable, refused on purpose (AUDIT_UNAVAILABLE included) or timed out. */
const retryable = (err: AppError) => shouldTryAnother(err, GATEWAYS);

/**
 * A bounded load generator against the public API: one writer (enrolls new ids, deletes some it
 * enrolled earlier) and one search loop per lane, until `durationMs` or `maxOps` is reached.
 * A call that gets gRPC status UNAVAILABLE or DEADLINE_EXCEEDED is retried on the next gateway of its list:
 * that is the only client action the guarantees allow.
 */
export function startLoad(options: LoadOptions): LoadRun {
  if (options.probes.length === 0) throw new Error("load: no probes");
  const callTimeoutMs = options.callTimeoutMs ?? 2_500;
  const deleteEvery = options.deleteEvery ?? 3;
  const deleteMinAgeMs = options.deleteMinAgeMs ?? 1_000;
  const lanes = options.searchLanes ?? [{ name: "client", gateways: options.gateways }];
  const writers = options.writers ?? [{ name: "w", gateways: options.gateways }];
  const clients = new Map<string, Client>();
  const clientOf = (address: string) => {
    let c = clients.get(address);
    if (!c) clients.set(address, (c = createClient(MatchingService, address, options.credentials)));
    return c;
  };
  const idPrefix = `DRILL-${options.runId}-`;
  const result: LoadResult = {
    runId: options.runId, idPrefix, start: Date.now(), end: 0, enrolled: [], deleted: [], uncertainEnrolls: [],
    uncertainDeletes: [], searches: [], errors: {}, ops: 0, marks: [],
  };
  const deadline = result.start + options.durationMs;
  let stopped = false;
  const running = () => !stopped && Date.now() < deadline && result.ops < options.maxOps;
  const countError = (op: string, code: string) => {
    const byCode = (result.errors[op] ??= {});
    byCode[code] = (byCode[code] ?? 0) + 1;
  };

  /** Tries each gateway in order; undefined when every one failed with a retryable code. */
  async function withFailover<T>(op: string, gateways: string[], call: (c: Client) => Promise<T>) {
    for (const [i, address] of gateways.entries()) {
      if (result.ops >= options.maxOps) return undefined;
      result.ops++;
      try {
        return { value: await call(clientOf(address)), gateway: address, failovers: i };
      } catch (err) {
        const e = AppError.from(err);
        countError(op, errorCodeName(e.code));
        if (!retryable(e)) throw e;
      }
    }
    return undefined;
  }

  const pendingDeletes = new Set<string>();
  async function writer(lane: WriterLane): Promise<void> {
    const live: AckedWrite[] = [];
    let n = 0;
    while (running()) {
      const id = `${idPrefix}${lane.name}-${n}`;
      const probe = options.probes[n % options.probes.length]!;
      n++;
      const request = { modality: Modality.FACE, id, image: probe.image, ...(probe.faceBox ? { faceBox: probe.faceBox } : {}) };
      try {
        const r = await withFailover(`enroll:${lane.name}`, lane.gateways, (c) => c.enroll(request, { timeoutMs: callTimeoutMs }));
        if (r) {
          const ack = { id, writer: lane.name, seq: r.value.logSequence, at: Date.now(), gateway: r.gateway, failovers: r.failovers };
          result.enrolled.push(ack);
          live.push(ack);
        } else result.uncertainEnrolls.push(id);
      } catch {
        // A refusal (e.g. a probe judged unusable) stores nothing: counted in errors, not a write.
      }
      if (n % deleteEvery === 0) await deleteOne(lane, live);
      if (options.writePauseMs !== 0) await sleep(options.writePauseMs ?? 20);
    }
  }

  async function deleteOne(lane: WriterLane, live: AckedWrite[]): Promise<void> {
    const now = Date.now();
    const candidates = live.filter((w) => now - w.at >= deleteMinAgeMs);
    if (candidates.length === 0) return;
    const victim = candidates[Math.floor(Math.random() * candidates.length)]!;
    pendingDeletes.add(victim.id);
    try {
      const r = await withFailover(`delete:${lane.name}`, lane.gateways, (c) =>
        c.delete({ modality: Modality.FACE, id: victim.id }, { timeoutMs: callTimeoutMs }),
      );
      // Unanswered: the id stays live and may be picked again (delete is idempotent).
      if (!r) return;
      live.splice(live.indexOf(victim), 1);
      pendingDeletes.delete(victim.id);
      result.deleted.push({ id: victim.id, writer: lane.name, seq: r.value.logSequence, at: Date.now(), gateway: r.gateway, failovers: r.failovers });
    } catch {
      // Non-retryable refusal: counted in errors; the id stays live.
    }
  }

  async function searcher(lane: SearchLane, offset: number): Promise<void> {
    let n = offset;
    while (running()) {
      const probe = options.probes[n++ % options.probes.length]!;
      const request = {
        modality: Modality.FACE, image: probe.image, caseRef: `DRILL-${options.runId}`, ...(probe.faceBox ? { faceBox: probe.faceBox } : {}),
      };
      const start = Date.now();
      try {
        const r = await withFailover(`search:${lane.name}`, lane.gateways, (c) => c.search(request, { timeoutMs: callTimeoutMs }));
        result.searches.push(
          r
            ? { lane: lane.name, start, end: Date.now(), ok: true, complete: r.value.complete, gateway: r.gateway }
            : { lane: lane.name, start, end: Date.now(), ok: false, code: "ALL_GATEWAYS_FAILED" },
        );
      } catch (err) {
        result.searches.push({ lane: lane.name, start, end: Date.now(), ok: false, code: errorCodeName(AppError.from(err).code) });
      }
      await sleep(options.searchPauseMs ?? 50);
    }
  }

  const done = Promise.all([...writers.map(writer), ...lanes.map((lane, i) => searcher(lane, i * 7))]).then(() => {
    result.end = Date.now();
    result.uncertainDeletes = [...pendingDeletes];
    for (const c of clients.values()) c.close();
    return result;
  });
  return {
    mark(label) {
      const at = Date.now();
      result.marks.push({ label, at });
      return at;
    },
    stop() {
      stopped = true;
    },
    snapshot: () => result,
    done,
  };
}

/** Ids acknowledged as enrolled and not acknowledged as deleted afterwards. */
export function expectedLive(result: LoadResult): Set<string> {
  const live = new Set(result.enrolled.map((w) => w.id));
  for (const d of result.deleted) live.delete(d.id);
  for (const id of result.uncertainDeletes) live.delete(id);
  return live;
}

/** Longest stretch in [from, to] without a successful search of the lane (all lanes when omitted). */
export function longestSearchGap(result: LoadResult, options: { lane?: string; from?: number; to?: number } = {}): number {
  const from = options.from ?? result.start;
  const to = options.to ?? result.end;
  const ends = result.searches
    .filter((s) => s.ok && (options.lane === undefined || s.lane === options.lane) && s.end >= from && s.end <= to)
    .map((s) => s.end);
  return longestGap(ends, from, to);
}

/** Longest stretch in [from, to] without an acknowledged write (enroll or delete) of the writer (all when omitted). */
export function longestWriteGap(result: LoadResult, options: { writer?: string; from?: number; to?: number } = {}): number {
  const from = options.from ?? result.start;
  const to = options.to ?? result.end;
  const acks = [...result.enrolled, ...result.deleted]
    .filter((w) => options.writer === undefined || w.writer === options.writer)
    .map((w) => w.at).filter((t) => t >= from && t <= to);
  return longestGap(acks, from, to);
}

/** Longest interval in [from, to] containing none of `times` (all of which lie in [from, to]). */
function longestGap(times: readonly number[], from: number, to: number): number {
  let gap = 0;
  let previous = from;
  for (const t of [...times].sort((x, y) => x - y)) {
    gap = Math.max(gap, t - previous);
    previous = t;
  }
  return Math.max(gap, to - previous);
}

export function searchStats(result: LoadResult, lane?: string): { total: number; failed: number; errorRate: number; incomplete: number } {
  const s = result.searches.filter((x) => lane === undefined || x.lane === lane);
  const failed = s.filter((x) => !x.ok).length;
  return { total: s.length, failed, errorRate: s.length === 0 ? 0 : failed / s.length, incomplete: s.filter((x) => x.ok && x.complete === false).length };
}
