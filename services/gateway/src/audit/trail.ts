import { connect, type JetStreamClient, type JetStreamManager, type NatsConnection } from "nats";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  natsTls, type TlsFiles,
  AUDIT_STREAM, AppError, auditSubject, decodeAuditEvent, decodeAuditRecord, isNoMessage, scanAuditStream, sealAuditEvent,
  type Logger, type ReadAuditOptions, type StoredAuditMessage,
} from "@taj/common";
import { AuditEventSchema, ErrorCode, type AuditEvent } from "@taj/proto";

/** An event as the wrapper builds it; the trail adds the chain fields (gateway, sequence, link). */
export type AuditEventDraft = Omit<Exclude<MessageInitShape<typeof AuditEventSchema>, AuditEvent>, "gatewayId" | "chainSequence" | "prevHash">;

export interface Appended {
  streamSequence: number;
  chainSequence: bigint;
}

/** The newest link of this gateway's chain, as stored. */
interface ChainHead {
  streamSequence: number;
  chainSequence: bigint;
  hash: Uint8Array;
  eventId: string;
}

const EMPTY_HEAD: ChainHead = { streamSequence: 0, chainSequence: 0n, hash: new Uint8Array(), eventId: "" };
const RETRY_PAUSE_MS = 50;

export function auditUnavailable(cause: unknown): AppError {
  return new AppError(ErrorCode.AUDIT_UNAVAILABLE, "the audit trail could not record this call, so it is not answered; retry", { cause });
}

/** A read of the trail (QueryAudit, RecordFeedback, FeedbackSummary) that failed; an AppError passes through. */
export function auditUnreadable(cause: unknown): AppError {
  return cause instanceof AppError ? cause : new AppError(ErrorCode.UNAVAILABLE, "the audit trail cannot be read now; retry", { cause });
}

/** What the service uses of the trail (unit tests stand in for it). */
export type AuditPort = Pick<AuditTrail, "append" | "scan">;

export interface AuditTrailOptions {
  gatewayId: string;
  /** How long one append may take, retries included, before the call fails AUDIT_UNAVAILABLE. */
  appendTimeoutMs: number;
}

/**
 * This gateway's hash chain in the TAJ_AUDIT stream. Appends run one at a time: each event links
 * to the previous one's hash and is published with the chain's expected last subject sequence, so
 * a second process with the same gateway id cannot fork the chain (one of them gets "wrong last
 * sequence", re-reads the head and links after the other's event). After any failed append the
 * head is unknown (the publish may have been stored) and is read again before the next one; the
 * msgID is the event id and its chain position, so JetStream stores a retried event once.
 */
export class AuditTrail {
  readonly #subject: string;
  #head: ChainHead | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  /** The last append failed: until one succeeds, only one append at a time tries the stream. */
  #failing = false;
  #inFlight = 0;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly options: AuditTrailOptions,
    private readonly logger: Logger,
    /** Whether close() ends the connection (one the trail opened itself). */
    private readonly ownsConnection: boolean,
  ) {
    this.#subject = auditSubject(options.gatewayId);
  }

  /**
   * On the gateway's NATS connection (the template log's: one connection, one place for its
   * TLS and credentials); the caller closes it after the trail.
   */
  static async on(nc: NatsConnection, options: AuditTrailOptions, logger: Logger): Promise<AuditTrail> {
    return AuditTrail.#start(nc, options, logger, false);
  }

  /** On a connection of its own (tools, tests), closed with the trail. */
  static async open(servers: string[], tls: TlsFiles, options: AuditTrailOptions, logger: Logger): Promise<AuditTrail> {
    const nc = await connect({
      servers, noRandomize: true, maxReconnectAttempts: -1, name: `taj-${options.gatewayId}-audit`, ...natsTls(tls, "gateway"),
    });
    try {
      return await AuditTrail.#start(nc, options, logger, true);
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  static async #start(nc: NatsConnection, options: AuditTrailOptions, logger: Logger, owns: boolean): Promise<AuditTrail> {
    const jsm = await nc.jetstreamManager();
    // The cluster bootstrap creates the stream (the gateway verifies it, see app.ts); until it
    // exists the head cannot be read, and the first append reads it instead.
    const trail = new AuditTrail(nc, nc.jetstream(), jsm, options, logger, owns);
    try {
      trail.#head = await trail.#readHead();
      logger.info({ gatewayId: options.gatewayId, chainSequence: String(trail.#head.chainSequence) }, "audit chain resumed");
    } catch (err) {
      logger.warn({ err, gatewayId: options.gatewayId }, "audit chain head not readable yet; read at the first append");
    }
    return trail;
  }

  /**
   * Resolves once the stream acknowledged storing the event (quorum of its replicas). Appends are
   * serialised, so while the stream cannot store anything (its quorum is gone, a site is cut off, a
   * leader election) every queued call would wait out the whole timeout of each one before it: once
   * an append has failed, only one append at a time probes the stream and the others fail at once
   * with AUDIT_UNAVAILABLE, so callers learn within one timeout to retry at the other site.
   */
  append(draft: AuditEventDraft): Promise<Appended> {
    if (this.#failing && this.#inFlight > 0) {
      return Promise.reject(auditUnavailable(new Error("the audit stream failed its last append; another append is probing it")));
    }
    this.#inFlight++;
    const run = this.#tail.then(() => this.#append(draft));
    this.#tail = run.catch(() => undefined);
    run.then(
      () => {
        this.#failing = false;
        this.#inFlight--;
      },
      () => {
        this.#failing = true;
        this.#inFlight--;
      },
    );
    return run;
  }

  /** The stream in order from a position (see scanAuditStream); stop early with break or return(). */
  scan(options: ReadAuditOptions): AsyncGenerator<StoredAuditMessage, number | undefined, undefined> {
    return scanAuditStream(this.js, this.jsm, options);
  }

  /** Waits for the appends in flight; ends the connection only if the trail opened it. */
  async close(): Promise<void> {
    await this.#tail;
    if (this.ownsConnection) await this.nc.drain().catch(() => this.nc.close());
  }

  async #append(draft: AuditEventDraft): Promise<Appended> {
    const eventId = draft.eventId ?? "";
    const deadline = Date.now() + this.options.appendTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        const head = this.#head ?? (this.#head = await beforeDeadline(this.#readHead(), deadline));
        // A failed attempt whose publish was stored after all: it is the head now.
        if (head.eventId === eventId && attempt > 0) return { streamSequence: head.streamSequence, chainSequence: head.chainSequence };
        const event = create(AuditEventSchema, {
          ...draft,
          gatewayId: this.options.gatewayId,
          chainSequence: head.chainSequence + 1n,
          prevHash: head.hash,
        });
        const sealed = sealAuditEvent(event);
        const ack = await this.js.publish(this.#subject, sealed.record, {
          // Event and chain position: a retry of these exact bytes is stored once, while the event
          // re-linked after another writer's (a new position) is a new message.
          msgID: `${eventId}:${event.chainSequence}`,
          timeout: Math.max(1, deadline - Date.now()),
          expect: { streamName: AUDIT_STREAM, lastSubjectSequence: head.streamSequence },
        });
        // A duplicate: an earlier attempt was stored (then others linked after it); re-read the head.
        this.#head = ack.duplicate ? undefined : { streamSequence: ack.seq, chainSequence: event.chainSequence, hash: sealed.hash, eventId };
        return { streamSequence: ack.seq, chainSequence: event.chainSequence };
      } catch (err) {
        this.#head = undefined;
        const left = deadline - Date.now();
        this.logger.warn({ err, attempt, left }, "audit append failed");
        if (left <= RETRY_PAUSE_MS) throw auditUnavailable(err);
        await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS));
      }
    }
  }

  async #readHead(): Promise<ChainHead> {
    try {
      const msg = await this.jsm.streams.getMessage(AUDIT_STREAM, { last_by_subj: this.#subject });
      const record = decodeAuditRecord(msg.data);
      const event = decodeAuditEvent(record.event);
      return { streamSequence: msg.seq, chainSequence: event.chainSequence, hash: record.hash, eventId: event.eventId };
    } catch (err) {
      if (isNoMessage(err)) return EMPTY_HEAD;
      throw err;
    }
  }
}

/** The promise, or a rejection once the deadline passed (the read itself is not cancellable). */
function beforeDeadline<T>(promise: Promise<T>, deadline: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("the audit chain's head could not be read in time")), Math.max(0, deadline - Date.now()));
  });
  promise.catch(() => undefined); // a late failure after the deadline is not an unhandled rejection
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
