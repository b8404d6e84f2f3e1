import { connect, type NatsConnection } from "nats";
import { ShardService } from "@taj/proto";
import {
  ALLOWED_PEERS, StreamWatch, TEMPLATE_STREAM, addService, memberKey, natsTls, serverCredentials, startGrpcServer, startMetrics, templateStreamSpec,
  tlsFilesOf,
  type GrpcServer, type Logger, type Metrics,
} from "@taj/common";
import type { ShardConfig } from "./config.ts";
import { IndexClient } from "./index/client.ts";
import { PartitionState } from "./partition-state.ts";
import { Serial } from "./serial.ts";
import { Feed } from "./feed.ts";
import { Handover } from "./handover.ts";
import { JetStreamLogSource } from "./log-source.ts";
import { Membership } from "./membership.ts";
import { MembershipPublisher } from "./membership-publisher.ts";
import { SnapshotPolicy } from "./snapshot-policy.ts";
import { etcdClient, readPartitionCount, watchAssignment } from "./ownership.ts";
import { shardHandlers } from "./handlers.ts";
import { shardMetrics } from "./metrics.ts";
import { Projector } from "./projection/projector.ts";
import { ProjectionStaging } from "./projection/staging.ts";

export interface Replica {
  port: number;
  stop(): Promise<void>;
}

/** Starts one shard replica: snapshot, log tail, gRPC, then etcd membership once caught up. */
export async function startReplica(cfg: ShardConfig, logger: Logger): Promise<Replica> {
  const tls = tlsFilesOf(cfg);
  const metrics: Metrics = await startMetrics("shard", cfg.METRICS_PORT, cfg.GRPC_HOST, logger, { tls, labels: { site: cfg.SITE, shard: cfg.SHARD_ID } });
  const etcd = etcdClient(cfg.ETCD_ENDPOINTS, tls);
  const partitionCount = await readPartitionCount(etcd);
  const state = new PartitionState();
  const serial = new Serial();
  const index = new IndexClient(
    {
      hnsw: { connectivity: cfg.HNSW_CONNECTIVITY, expansionAdd: cfg.HNSW_EXPANSION_ADD, expansionSearch: cfg.HNSW_EXPANSION_SEARCH, threads: cfg.INDEX_THREADS },
      graphModalities: cfg.HNSW_MODALITIES,
    },
    (err) => {
      logger.fatal({ err }, "index worker failed; exiting so the replica restarts from its snapshot");
      process.exit(1);
    },
    cfg.INDEX_WORKERS,
  );
  // Read by the gauges (metrics.ts): the log's head as last seen, and since when the snapshot lags.
  let logLastSequence = 0;
  let logReachable = true;
  // What a snapshot holds is written below (writeSnapshot); when one is taken is the policy's.
  const snapshots = new SnapshotPolicy({
    everyNEvents: cfg.SNAPSHOT_EVERY_N_EVENTS, intervalMs: cfg.SNAPSHOT_INTERVAL_MS, purgeDelayMs: cfg.PURGE_SNAPSHOT_DELAY_MS,
    maxDutyPercent: cfg.SNAPSHOT_MAX_DUTY_PERCENT, run: (task) => serial.run(task), logger, write: (reason) => writeSnapshot(reason),
  });
  const m = shardMetrics(metrics.registry, index, state, {
    logLastSequence: () => Math.max(logLastSequence, state.consumerPosition()),
    logReachable: () => logReachable,
    unsnapshottedSinceMs: () => snapshots.unsnapshottedSinceMs(),
  });

  let assignmentChange: (partitions: number[]) => void = () => {};
  const assignment = await watchAssignment(etcd, cfg.SITE, cfg.SHARD_ID, partitionCount, logger, (p) => assignmentChange(p));
  if (assignment.initial.length === 0) logger.warn({ site: cfg.SITE, shardId: cfg.SHARD_ID }, "no partitions assigned to this shard: serving nothing");

  // The active projections before any index is built: a snapshot of other versions is not loaded.
  const projector = new Projector();
  const projections = await ProjectionStaging.open({
    etcd, index, state, serial, projector, logger,
    onSwapped: () => snapshots.take("projection"),
  });

  // Snapshot first, so only the log's tail is replayed.
  let snapshotSequence = 0;
  let known = new Map<number, number>();
  try {
    const loaded = await index.load(cfg.DATA_DIR, assignment.initial, projector.versions());
    if (loaded.found) {
      known = loaded.sequences;
      snapshotSequence = known.size > 0 ? Math.min(...known.values()) : 0;
      logger.info({ snapshotSequence, templates: loaded.templates, partitions: [...known.keys()] }, "snapshot loaded");
    } else {
      logger.warn("no snapshot: rebuilding from the log");
    }
  } catch (err) {
    logger.warn({ err }, "snapshot unreadable: rebuilding from the log");
  }

  const grpc: GrpcServer = await startGrpcServer({
    host: cfg.GRPC_HOST,
    port: cfg.GRPC_PORT,
    logger,
    serviceNames: [ShardService.typeName],
    credentials: serverCredentials(tls, { requireClientCert: true }),
    metrics,
    register: (server) =>
      addService(server, ShardService, shardHandlers({
        shardId: cfg.SHARD_ID, site: cfg.SITE, partitionCount, index, state, metrics: m,
        snapshotSequence: () => snapshotSequence,
        project: (modality, template) => projector.forProbe(modality, template),
        projections: () => projector.status(),
      }), logger, { allowedPeers: ALLOWED_PEERS.shard }),
  });
  grpc.setServing(false); // until the template stream is verified (below)
  const nc: NatsConnection = await connect({ servers: cfg.NATS_URLS, name: `shard-${cfg.SITE}-${cfg.SHARD_ID}`, maxReconnectAttempts: -1, ...natsTls(tls, "shard") });
  const jsm = await nc.jetstreamManager();
  // The bootstrap (`tajctl init`) owns the stream: until it exists as specified the replica waits
  // here, its health NOT_SERVING, and checks again every STREAM_CHECK_INTERVAL_MS.
  const streams = await StreamWatch.start(jsm, [templateStreamSpec({ replicas: cfg.LOG_REPLICAS })], {
    intervalMs: cfg.STREAM_CHECK_INTERVAL_MS, logger, onChange: (ok) => grpc.setServing(ok),
  });
  await streams.ready();
  const stream = await jsm.streams.info(TEMPLATE_STREAM);
  const lastSequence = stream.state.last_seq;
  logLastSequence = lastSequence;
  if ([...known.values()].some((s) => s > lastSequence)) {
    // The log is behind the snapshot: the stream was recreated. The log is the truth.
    logger.warn({ lastSequence, snapshotSequence }, "snapshot is ahead of the log: discarding it and rebuilding");
    await index.drop(assignment.initial);
    known = new Map();
    snapshotSequence = 0;
  }

  let snapshotTaken: string | undefined;
  const writeSnapshot = async (reason: string) => {
    const sequences = state.sequences();
    const signature = JSON.stringify([sequences, projector.versions()]);
    if (signature === snapshotTaken) return;
    const stop = m.snapshotDuration.startTimer();
    const r = await index.snapshot(cfg.DATA_DIR, sequences, projector.versions());
    stop();
    snapshotTaken = signature;
    const values = Object.values(sequences);
    snapshotSequence = values.length > 0 ? Math.min(...values) : state.consumerPosition();
    logger.info({ reason, snapshotSequence, templates: r.templates }, "snapshot written");
  };

  const feed = new Feed(new JetStreamLogSource(nc, jsm, nc.jetstream()), index, state, serial, {
    consumerName: `shard-${cfg.SITE}-${cfg.SHARD_ID}`,
    batchSize: cfg.APPLY_BATCH,
    logger,
    project: (modality, modelId, template) => projector.forIndex(modality, modelId, template),
    async onBatch(batch) {
      await snapshots.afterBatch(batch);
      void publisher.refresh();
    },
  });
  const membership = new Membership(etcd, memberKey(cfg.SITE, cfg.SHARD_ID), cfg.LEASE_TTL_S, logger);
  const publisher = new MembershipPublisher({
    state, logger,
    publish: (member) => membership.publish(member),
    address: cfg.ADVERTISE_ADDRESS ?? `${cfg.GRPC_HOST}:${grpc.port}`,
    startedAt: new Date().toISOString(),
    progress: () => ({ delivered: feed.delivered, appliedSequence: state.appliedSequence() }),
  });

  await serial.run(async () => {
    const { mainStart } = await feed.assign(assignment.initial, lastSequence, known);
    const start = mainStart ?? lastSequence + 1;
    logger.info({ startSequence: start, lastSequence, replay: Math.max(0, lastSequence - start + 1) }, "replaying log tail");
    await publisher.refresh();
  });
  projections.begin(nc.jetstream(), jsm);
  snapshots.start();

  let stopping = false;
  const handover = new Handover(assignment.initial, {
    graceMs: cfg.RELEASE_GRACE_MS, logger,
    owned: () => state.owned(),
    withdraw: (going) =>
      serial.run(() => {
        publisher.withdraw(going);
        return publisher.refresh();
      }),
    apply: (partitions) =>
      serial.run(async () => {
        // A change that lands during shutdown must not reposition a consumer stop() just closed.
        if (stopping) return;
        publisher.settle();
        const head = (await jsm.streams.info(stream.config.name)).state.last_seq;
        const { added, removed } = await feed.assign(partitions, head);
        if (added.length > 0 || removed.length > 0) {
          projections.restart();
          logger.info({ added, removed }, partitions.length === 0 ? "assignment removed: serving nothing" : "assignment changed");
        }
        if (removed.length > 0) {
          await index.drop(removed);
          snapshots.purgeSoon();
        }
        await publisher.refresh();
      }),
  });
  assignmentChange = (partitions) => handover.change(partitions);

  // One check at a time: with NATS away each request waits for its timeout, and checks queued
  // behind it in the serial queue would hold up log batches.
  let headCheck: Promise<void> | undefined;
  const headTimer = setInterval(() => {
    if (headCheck) return;
    headCheck = (async () => {
      // The stream's state first (read-only: outside the serial queue): once the consumer is then
      // found to have nothing pending, every sequence up to that head is applied or was deleted.
      let head: number;
      try {
        head = (await jsm.streams.info(stream.config.name)).state.last_seq;
        logReachable = true;
      } catch (err) {
        logReachable = false;
        throw err;
      }
      logLastSequence = head;
      await serial.run(async () => {
        await feed.checkHead(head);
        await publisher.refresh();
      });
    })()
      .catch((err: unknown) => logger.warn({ err }, "checking the log head failed"))
      .finally(() => {
        headCheck = undefined;
      });
  }, 1_000);

  return {
    port: grpc.port,
    async stop() {
      stopping = true;
      handover.stop();
      streams.stop();
      snapshots.stop();
      clearInterval(headTimer);
      // Leave the membership first so coordinators stop sending searches, then drain.
      await membership.revoke();
      await assignment.cancel().catch(() => undefined);
      await projections.stop();
      await serial.run(() => feed.stop());
      await serial.run(() => snapshots.take("shutdown")).catch((err: unknown) => logger.error({ err }, "final snapshot failed"));
      await grpc.shutdown(5_000);
      await nc.drain().catch(() => undefined);
      await index.close();
      etcd.close();
      await metrics.close();
    },
  };
}
