import { connect, type JetStreamClient, type JetStreamManager, type NatsConnection } from "nats";
import {
  AppError, TEMPLATE_STREAM, decodeTemplateEvent, isNoMessage, encodeTemplateEvent, natsTls, scanTemplateLog, type LoggedTemplate, type Logger,
  type ScanTemplateOptions, type TlsFiles,
} from "@taj/common";
import { ErrorCode, type TemplateEvent } from "@taj/proto";

export interface StoredEvent {
  seq: number;
  event: TemplateEvent;
}

export interface PublishOptions {
  /** Same id on a retried publish: JetStream stores it once (duplicate window). */
  msgID: string;
  deadline: number;
  /** Optimistic concurrency: fail if another write reached the subject since it was read. */
  expectLastSubjectSequence?: number;
}

export class WrongLastSequence extends Error {}

/** What the handlers use of the log (unit tests stand in for it). */
export type TemplateLogPort = Pick<TemplateLog, "publish" | "last" | "lastSequence" | "erase" | "eraseOlder" | "scan">;

const RETRY_PAUSE_MS = 100;

/** What callers see when the log cannot take or answer a request now: retry (at the other site). */
export function logUnavailable(cause: unknown): AppError {
  return new AppError(ErrorCode.UNAVAILABLE, "the template log is unavailable; retry", { cause });
}

/**
 * The gateway's view of the JetStream template log: publish an event and wait for the stream to
 * have stored it, read the last event of one subject, read the stream's last sequence.
 */
export class TemplateLog {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly logger: Logger,
  ) {}

  /** Connects; the stream is the bootstrap's to create, and the gateway's StreamWatch verifies it. */
  static async open(servers: string[], tls: TlsFiles, logger: Logger): Promise<TemplateLog> {
    // Servers are tried in the given order so the site-local one is used first.
    const nc = await connect({ servers, noRandomize: true, maxReconnectAttempts: -1, name: "taj-gateway", ...natsTls(tls, "gateway") });
    const jsm = await nc.jetstreamManager();
    // Runs until the connection closes (the iterator then ends); nothing waits for it.
    void (async () => {
      for await (const s of nc.status()) logger.info({ type: s.type, data: s.data }, "nats status");
    })();
    return new TemplateLog(nc, nc.jetstream(), jsm, logger);
  }

  /** Publishes and resolves with the stream sequence once JetStream acknowledged storing it. */
  async publish(subject: string, event: TemplateEvent, options: PublishOptions): Promise<number> {
    const data = encodeTemplateEvent(event);
    for (let attempt = 0; ; attempt++) {
      const remaining = options.deadline - Date.now();
      if (remaining <= 0) throw new AppError(ErrorCode.DEADLINE_EXCEEDED, "the deadline expired before the template log stored the change");
      try {
        const ack = await this.js.publish(subject, data, {
          msgID: options.msgID,
          timeout: remaining,
          expect: {
            streamName: TEMPLATE_STREAM,
            ...(options.expectLastSubjectSequence !== undefined ? { lastSubjectSequence: options.expectLastSubjectSequence } : {}),
          },
        });
        return ack.seq;
      } catch (err) {
        if (err instanceof Error && /wrong last sequence/i.test(err.message)) throw new WrongLastSequence(err.message);
        this.logger.warn({ err, attempt, subject }, "template log publish failed; retrying with the same msgID");
        if (options.deadline - Date.now() <= RETRY_PAUSE_MS) {
          throw logUnavailable(err);
        }
        await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS));
      }
    }
  }

  /** The last event on a subject, or undefined when none was ever stored. */
  async last(subject: string): Promise<StoredEvent | undefined> {
    try {
      const msg = await this.jsm.streams.getMessage(TEMPLATE_STREAM, { last_by_subj: subject });
      return { seq: msg.seq, event: decodeTemplateEvent(msg.data) };
    } catch (err) {
      if (isNoMessage(err)) return undefined;
      throw logUnavailable(err);
    }
  }

  /**
   * Removes one message and overwrites its bytes in the message block at every replica
   * (STREAM.MSG.DELETE with erase). A message already gone is not an error.
   */
  async erase(seq: number): Promise<void> {
    try {
      await this.jsm.streams.deleteMessage(TEMPLATE_STREAM, seq, true);
    } catch (err) {
      if (isNoMessage(err)) return;
      throw logUnavailable(err);
    }
  }

  /** Erases every message of the subject below `before`: generations an interrupted write left. */
  async eraseOlder(subject: string, before: number): Promise<number> {
    let erased = 0;
    for (let from = 1; from < before; ) {
      let seq: number;
      try {
        seq = (await this.jsm.streams.getMessage(TEMPLATE_STREAM, nextBySubject(subject, from))).seq;
      } catch (err) {
        if (isNoMessage(err)) return erased;
        throw logUnavailable(err);
      }
      if (seq >= before) return erased;
      await this.erase(seq);
      erased++;
      from = seq + 1;
    }
    return erased;
  }

  async lastSequence(): Promise<bigint> {
    try {
      const info = await this.jsm.streams.info(TEMPLATE_STREAM);
      return BigInt(info.state.last_seq);
    } catch (err) {
      throw logUnavailable(err);
    }
  }

  /** The gateway's NATS connection, which the audit trail shares. */
  /** The log's records from `fromSequence` up to its head as read now (a model's drop reads them). */
  scan(options: ScanTemplateOptions): AsyncGenerator<LoggedTemplate, number, undefined> {
    return scanTemplateLog(this.js, this.jsm, options);
  }

  get connection(): NatsConnection {
    return this.nc;
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => this.nc.close());
  }
}

/**
 * STREAM.MSG.GET's "first message of the subject at or after seq" query. nats.js 2.29 types it
 * only for direct gets (NextMsgRequest), though the API takes it too; it is typed here as the
 * sequence query it extends, and sent as is.
 */
function nextBySubject(subject: string, seq: number): { seq: number } {
  const query = { seq, next_by_subj: subject };
  return query;
}
