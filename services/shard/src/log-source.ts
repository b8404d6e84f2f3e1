import {
  AckPolicy, DeliverPolicy, nanos,
  type ConsumerConfig, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type NatsConnection,
} from "nats";
import { TEMPLATE_STREAM } from "@taj/common";

/** One message of the template log as a consumer delivers it. */
export interface LogMessage {
  /** Stream sequence. */
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  /** Consumer sequence: grows by one per delivery, so a gap means deliveries were lost. */
  readonly deliverySequence: number;
  /** Messages matching the consumer's filters after this one, as the server counted at delivery. */
  readonly pending: number;
  ack(): void;
}

export interface LogConsumerState {
  pending: number;
  ackPending: number;
  /** Stream sequence of the last message delivered. */
  deliveredSequence: number;
}

/** A consumer positioned and consuming: its messages in delivery order, until closed. */
export interface LogReader extends AsyncIterable<LogMessage> {
  info(): Promise<LogConsumerState>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** First stream sequence to deliver. */
  startSequence: number;
  /** The consumer's `filter_subjects`: non-empty, non-overlapping. */
  subjects: readonly string[];
  /** Messages the client may buffer ahead of the application. */
  maxMessages: number;
  /** A consumer the server may remove once unused (a catch-up pass left behind by a crash). */
  transient?: boolean;
}

/** What the Feed reads the log through: the JetStream implementation below, a fake in tests. */
export interface LogSource {
  /** (Re)creates consumer `name` at `startSequence` and starts consuming it. */
  open(name: string, options: OpenOptions): Promise<LogReader>;
  /** Deletes consumer `name`; nothing when it does not exist. */
  remove(name: string): Promise<void>;
}

const PULL_EXPIRES_MS = 5_000;
const API_TIMEOUT_MS = 5_000;
const TRANSIENT_INACTIVE_MS = 10 * 60_000;

/** Durable pull consumers on the template stream, explicit ack. */
export class JetStreamLogSource implements LogSource {
  private readonly nc: NatsConnection;
  private readonly jsm: JetStreamManager;
  private readonly js: JetStreamClient;

  constructor(nc: NatsConnection, jsm: JetStreamManager, js: JetStreamClient) {
    this.nc = nc;
    this.jsm = jsm;
    this.js = js;
  }

  /**
   * Always deletes and recreates the consumer, even at the same start: its ack floor may be past
   * the snapshot loaded (a crash after acking but before snapshotting), and resuming there would
   * lose those events.
   */
  async open(name: string, options: OpenOptions): Promise<LogReader> {
    if (options.subjects.length === 0) throw new Error("a log consumer needs at least one filter subject");
    await this.remove(name);
    await this.create(name, {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Math.max(1, options.startSequence),
      filter_subjects: [...options.subjects],
      max_ack_pending: 10_000,
      ack_wait: nanos(60_000),
      ...(options.transient ? { inactive_threshold: nanos(TRANSIENT_INACTIVE_MS) } : {}),
    });
    const consumer = await this.js.consumers.get(TEMPLATE_STREAM, name);
    // Short pulls: after a cut the client notices missed heartbeats (expires / 2) and re-pulls
    // within seconds; at the default 30 s a healed site took over a minute to catch up.
    const messages: ConsumerMessages = await consumer.consume({ max_messages: options.maxMessages, expires: PULL_EXPIRES_MS });
    const jsm = this.jsm;
    return {
      async *[Symbol.asyncIterator]() {
        for await (const m of messages) {
          yield { seq: m.seq, subject: m.subject, data: m.data, deliverySequence: m.info.deliverySequence, pending: m.info.pending, ack: () => m.ack() };
        }
      },
      async info() {
        const i = await jsm.consumers.info(TEMPLATE_STREAM, name);
        return { pending: i.num_pending, ackPending: i.num_ack_pending, deliveredSequence: i.delivered.stream_seq };
      },
      close: () => messages.close().then(() => undefined),
    };
  }

  /**
   * nats.js 2.29 sends a config with `filter_subjects` to the legacy
   * `$JS.API.CONSUMER.DURABLE.CREATE.<stream>.<name>`, which the shard's NATS user may not publish to
   * (docs/security.md: `CONSUMER.CREATE` only); nats-server >= 2.10 takes `filter_subjects` on
   * `$JS.API.CONSUMER.CREATE.<stream>.<name>`, so the request is sent there.
   */
  private async create(name: string, config: Partial<ConsumerConfig>): Promise<void> {
    const request = { stream_name: TEMPLATE_STREAM, config };
    const reply = await this.nc.request(`$JS.API.CONSUMER.CREATE.${TEMPLATE_STREAM}.${name}`, new TextEncoder().encode(JSON.stringify(request)), { timeout: API_TIMEOUT_MS });
    const body = JSON.parse(new TextDecoder().decode(reply.data)) as { error?: { code?: number; err_code?: number; description?: string } };
    if (body.error) throw new Error(`creating log consumer ${name} failed: ${body.error.description ?? "JetStream error"} (${body.error.err_code ?? body.error.code ?? "?"})`);
  }

  async remove(name: string): Promise<void> {
    try {
      await this.jsm.consumers.delete(TEMPLATE_STREAM, name);
    } catch (err) {
      if (!(err instanceof Error) || !/consumer not found/i.test(err.message)) throw err;
    }
  }
}
