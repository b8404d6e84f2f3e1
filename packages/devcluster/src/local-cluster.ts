import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ChannelCredentials } from "@grpc/grpc-js";
import { Etcd3, type IOptions } from "etcd3";
import { connect } from "nats";
import {
  ASSIGNMENT_PREFIX, MEMBER_PREFIX, PARTITION_COUNT_KEY, Member, assignmentKey, bootstrapStreams, channelCredentials, clusterStreams,
  DEFAULT_PARTITION_COUNT, HUGE_PAGES_TUNABLE, TAJCTL_CONFIG_FILE, etcdCredentials, writeTajctlConfig, memberKey, natsTls, tokenCallerCredentials, type NatsTlsOptions, type TlsFiles,
} from "@taj/common";
import { createPki, type Pki } from "./pki.ts";
import { ensureServerBinaries } from "./binaries.ts";
import { startEtcdCluster, type EtcdCluster } from "./etcd-cluster.ts";
import { startNatsCluster, type NatsCluster } from "./nats-cluster.ts";
import { createService, type ServiceHandle, type ServiceKind } from "./service.ts";
import { WITNESS, assertPortsFree, labelledPorts, portLayout, type PortLayout } from "./ports.ts";
import { DIR_ENV, Roster, reapStale } from "./roster.ts";
import type { ProcessHandle } from "./process.ts";
import { waitFor } from "./wait.ts";
import { LocalIssuer } from "./oidc.ts";

export interface LocalClusterOptions {
  /** Everything (data, configs, logs, pids.json) goes under this dir. */
  dir: string;
  /** See portLayout(): the cluster uses [basePort, basePort + 200). */
  basePort: number;
  sites?: string[];
  shardsPerSite?: number;
  partitionCount?: number;
  extractors?: number;
  /** JetStream replicas of the template log (and LOG_REPLICAS of the services); 3 = site A, site B, witness. */
  logReplicas?: number;
  logLevel?: string;
  /** Wipe dir first (default true). False keeps data, e.g. to restart a whole cluster on its old state. */
  fresh?: boolean;
  /** Extra env per service kind, e.g. a shorter snapshot interval for a test. */
  serviceEnv?: Partial<Record<ServiceKind, Record<string, string>>>;
  /** Shorthand for serviceEnv.shard (applied after it). */
  shardEnv?: Record<string, string>;
  /** Per-step readiness timeout; default 120 s. */
  timeoutMs?: number;
  /** Where each member ("a", "b", "w") runs and listens; default everything on 127.0.0.1 here. */
  network?: ClusterNetwork;
  /** NATS ping interval (clients and routes); default 2 s. A cut link is noticed after ~2 pings. */
  natsPingIntervalSec?: number;
  /** NATS write deadline; default 10 s (nats-server's). Shorter closes routes stuck behind a cut sooner. */
  natsWriteDeadlineSec?: number;
  /** JetStream file storage per NATS node in GB; default 4. */
  natsMaxFileStoreGb?: number;
}

/** Placement of each site's (and the witness's) processes: see startSitesCluster for namespaces. */
export interface ClusterNetwork {
  /** Address the processes of a member listen on and advertise. */
  hostOf(member: string): string;
  /** Network namespace of a member's processes; undefined = the launcher's own. */
  netnsOf(member: string): string | undefined;
}

/** Roles of the local cluster's client certificates, by subject CN (gateway CLIENT_CERT_ROLES). */
export const LOCAL_CERT_ROLES = "taj-system=search+enroll;admin=admin+audit";

const LOOPBACK: ClusterNetwork = { hostOf: () => "127.0.0.1", netnsOf: () => undefined };

export interface ClusterAddresses {
  /** host:port of the public gRPC API at the first site (site a). */
  gateway: string;
  /** host:port of each site's gateway. */
  gateways: Record<string, string>;
  coordinators: Record<string, string>;
  extractors: string[];
  shards: Record<string, string>;
  /** NATS client URL of each site's node (and the witness "w"). */
  nats: Record<string, string>;
  /** All NATS URLs. */
  natsUrls: string[];
  /** etcd client endpoints (https://host:port), sites in order then witness. */
  etcdEndpoints: string[];
}

export interface LocalCluster {
  readonly dir: string;
  /** Mints OIDC tokens the gateways accept (issuer.metadata({ sub, roles })). */
  readonly issuer: LocalIssuer;
  readonly ports: PortLayout;
  readonly addresses: ClusterAddresses;
  readonly partitionCount: number;
  /** Partitions assigned to each shard id (the same split at every site). */
  readonly assignments: Record<string, number[]>;
  readonly etcd: EtcdCluster;
  readonly nats: NatsCluster;
  /** The cluster's CA and certificates (<dir>/pki): every port is mutual TLS. */
  readonly pki: Pki;
  /**
   * gRPC credentials of an identity: the operator (admin) by default, "client" for TAJ's system,
   * "bearer" for a person's client (TLS without a certificate; the caller sends a token).
   */
  credentials(kind?: "admin" | "client" | "bearer"): ChannelCredentials;
  /** nats.js connect options (servers and TLS) of the operator. */
  natsOptions(): { servers: string[] } & NatsTlsOptions;
  /** etcd3 options (hosts and client certificate) of the operator. */
  etcdOptions(): IOptions;
  /** By name: "gateway-a", "gateway-b", "coordinator-a", "extractor-1", "shard-a1", ... */
  readonly services: Record<string, ServiceHandle>;
  /** Every process by name, including "etcd-a" and "nats-w": kill, restart, stop. */
  readonly processes: Record<string, ProcessHandle>;
  shard(id: string): ServiceHandle;
  /** gRPC addresses of the shards of a site assigned a partition (a plain function: drills pass it on as a callback). */
  shardsHolding: (site: string, partition: number) => string[];
  /** Waits until a shard is a live member in etcd serving all its assigned partitions (e.g. after a restart). */
  waitForMember(site: string, shardId: string, timeoutMs?: number): Promise<void>;
  /** Pids of the processes currently running. */
  pids(): number[];
  /** Ends exactly the processes this cluster started: SIGTERM, SIGKILL after a grace. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Contiguous, even split of [0, partitionCount) over n shards. */
export function splitPartitions(partitionCount: number, n: number): number[][] {
  return Array.from({ length: n }, (_, j) => {
    const from = Math.floor((j * partitionCount) / n);
    const to = Math.floor(((j + 1) * partitionCount) / n);
    return Array.from({ length: to - from }, (_, k) => from + k);
  });
}

function localFirst<T extends { site: string }>(items: T[], site: string): T[] {
  return [...items.filter((i) => i.site === site), ...items.filter((i) => i.site !== site)];
}

/**
 * A whole two-site cluster on loopback with real servers: etcd (one member per site plus a
 * witness), a NATS JetStream cluster (same three), the template stream with 3 replicas, and the
 * services. Returns once every shard is a live member in etcd with its assigned partitions.
 */
export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const dir = resolve(options.dir);
  const sites = options.sites ?? ["a", "b"];
  const shardsPerSite = options.shardsPerSite ?? 2;
  const partitionCount = options.partitionCount ?? DEFAULT_PARTITION_COUNT;
  const extractorCount = options.extractors ?? 2;
  const logReplicas = options.logReplicas ?? 3;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const logLevel = options.logLevel ?? "info";
  const ports = portLayout(options.basePort, sites, shardsPerSite, extractorCount);
  const network = options.network ?? LOOPBACK;
  const inNamespaces = [...sites, WITNESS].some((m) => network.netnsOf(m) !== undefined);

  const binaries = ensureServerBinaries();
  mkdirSync(dir, { recursive: true });
  const reaped = await reapStale(dir);
  if (reaped.length > 0) process.stderr.write(`[devcluster] killed leftovers of an earlier run in ${dir}: ${reaped.join(", ")}\n`);
  if (options.fresh !== false) {
    // Wipe only what looks like an earlier cluster: a wrong dir argument must not cost anyone data.
    if (readdirSync(dir).length > 0 && !existsSync(join(dir, "pids.json"))) {
      throw new Error(`${dir} is not empty and holds no earlier cluster (no pids.json): refusing to wipe it`);
    }
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }
  // In namespaces every member has its own addresses: nothing of ours can be busy there.
  if (!inNamespaces) await assertPortsFree(labelledPorts(ports));
  // After the wipe: a fresh cluster gets a fresh CA; a kept one (fresh: false) keeps its certificates.
  const pki = createPki(dir);

  const roster = new Roster(dir);
  const members = [...sites, WITNESS];
  const stoppers: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stoppers.splice(0).reverse()) await stop();
  };

  try {
    const [etcdStart, natsStart] = await Promise.allSettled([
      startEtcdCluster({
        dir,
        binary: binaries.etcd,
        pki,
        timeoutMs,
        members: members.map((m) => ({
          name: m, site: m, clientPort: ports.etcd[m]!.client, peerPort: ports.etcd[m]!.peer, ...placement(network, m),
        })),
      }),
      startNatsCluster({
        dir,
        binary: binaries.natsServer,
        pki,
        timeoutMs,
        nodes: members.map((m) => ({
          name: m,
          site: m,
          clientPort: ports.nats[m]!.client,
          clusterPort: ports.nats[m]!.cluster,
          monitorPort: ports.nats[m]!.monitor,
          ...placement(network, m),
        })),
        ...(options.natsPingIntervalSec ? { pingIntervalSec: options.natsPingIntervalSec } : {}),
        ...(options.natsWriteDeadlineSec ? { writeDeadlineSec: options.natsWriteDeadlineSec } : {}),
        ...(options.natsMaxFileStoreGb ? { maxFileStoreGb: options.natsMaxFileStoreGb } : {}),
      }),
    ]);
    // Both settle before going on, so a failure of one never leaves the other running unowned.
    if (etcdStart.status === "fulfilled") stoppers.push(() => etcdStart.value.stop());
    if (natsStart.status === "fulfilled") stoppers.push(() => natsStart.value.stop());
    if (etcdStart.status === "rejected") throw etcdStart.reason;
    if (natsStart.status === "rejected") throw natsStart.reason;
    const etcd = etcdStart.value;
    const nats = natsStart.value;
    for (const m of etcd.members) roster.track(m.process);
    for (const n of nats.nodes) roster.track(n.process);

    const split = splitPartitions(partitionCount, shardsPerSite);
    const shardSpecs = sites.flatMap((site) => split.map((partitions, i) => ({ site, id: `${site}${i + 1}`, partitions })));
    const ids = shardSpecs.map((s) => s.id);
    const assignments: Record<string, number[]> = Object.fromEntries(shardSpecs.map((s) => [s.id, s.partitions]));
    await writeLayout(etcd.endpoints, pki.admin, partitionCount, shardSpecs);
    await createStream(nats.urls, pki.admin, logReplicas);

    // Between namespaces a site's services talk to their own site's etcd member and NATS node, and
    // to the witness's, never to the other site's: the etcd and NATS clients pick servers at random,
    // and a shard at site B holding its lease through site A's member loses it when A is cut off.
    const reachable = (member: string, site: string) => !inNamespaces || member === site || member === WITNESS;
    const etcdFor = (site: string) =>
      localFirst(etcd.members, site).filter((m) => reachable(m.member, site)).map((m) => m.endpoint).join(",");
    const natsFor = (site: string) =>
      localFirst(nats.nodes, site).filter((n) => reachable(n.node, site)).map((n) => n.url);
    const common = (site: string, p: { grpc: number; metrics: number }): Record<string, string> => ({
      GRPC_HOST: network.hostOf(site),
      GRPC_PORT: String(p.grpc),
      METRICS_PORT: String(p.metrics),
      LOG_LEVEL: logLevel,
      SITE: site,
      NATS_URLS: natsFor(site).join(","),
      ETCD_ENDPOINTS: etcdFor(site),
      [DIR_ENV]: dir,
    });
    const make = (kind: ServiceKind, name: string, env: Record<string, string>) => {
      const netns = env.SITE === undefined ? undefined : network.netnsOf(env.SITE);
      const handle = createService(kind, {
        name,
        ...(netns ? { netns } : {}),
        env: { ...env, ...options.serviceEnv?.[kind], ...(kind === "shard" ? options.shardEnv : {}) },
        logFile: join(dir, `${name}.log`),
        pki,
        timeoutMs,
      });
      roster.track(handle.process);
      return handle;
    };

    const extractors = ports.extractors.map((p, i) =>
      make("extractor", `extractor-${i + 1}`, { ...common(sites[i % sites.length]!, p), ORT_THREADS: "1" }),
    );
    const shards = shardSpecs.map(({ id, site }) => {
      const p = ports.shards[id]!;
      return make("shard", `shard-${id}`, {
        ...common(site, p),
        SHARD_ID: id,
        ADVERTISE_ADDRESS: `${network.hostOf(site)}:${p.grpc}`,
        DATA_DIR: join(dir, `shard-${id}-data`),
        LOG_REPLICAS: String(logReplicas),
        GLIBC_TUNABLES: HUGE_PAGES_TUNABLE,
      });
    });
    const coordinators = sites.map((site) => make("coordinator", `coordinator-${site}`, common(site, ports.coordinators[site]!)));
    const bySite = <T extends { env: Readonly<Record<string, string>> }>(items: T[]) => (site: string) => ({
      local: items.filter((i) => i.env.SITE === site),
      remote: items.filter((i) => i.env.SITE !== site),
    });
    const extractorsOf = bySite(extractors);
    const coordinatorsOf = bySite(coordinators);
    // Callers and roles (issue 8): people's tokens come from the local issuer (demo tokens per role
    // in <dir>/oidc/); systems' certificates map to roles by subject CN.
    const issuer = await LocalIssuer.open(dir);
    await issuer.writeDemoTokens();
    const gatewayAuthEnv = {
      ...issuer.gatewayEnv(),
      // TAJ's system and the operator authenticate by certificate (same CA as the services here).
      CLIENT_CA_FILE: pki.caFile,
      CLIENT_CERT_ROLES: LOCAL_CERT_ROLES,
      // Drills and the bench drive one principal at hundreds of calls a second; production keeps the default.
      RATE_LIMIT_PER_PRINCIPAL_PER_S: "2000",
    };
    const gateways = sites.map((site) => {
      // On loopback no link can be cut, so every extractor is local (as before); between
      // namespaces a gateway uses its own site's and falls back to the other's.
      const ex = inNamespaces ? extractorsOf(site) : { local: extractors, remote: [] };
      const local = ex.local.length > 0 ? ex : { local: ex.remote, remote: [] };
      const co = coordinatorsOf(site);
      return make("gateway", `gateway-${site}`, {
        ...common(site, ports.gateways[site]!),
        EXTRACTOR_ADDRESSES: local.local.map((e) => e.address).join(","),
        REMOTE_EXTRACTOR_ADDRESSES: local.remote.map((e) => e.address).join(","),
        COORDINATOR_ADDRESSES: [...co.local, ...co.remote].map((c) => c.address).join(","),
        LOG_REPLICAS: String(logReplicas),
        ...gatewayAuthEnv,
      });
    });

    const services = [...extractors, ...shards, ...coordinators, ...gateways];
    stoppers.push(async () => {
      // Front to back, so no request is in flight towards a process already gone.
      await Promise.all(gateways.map((g) => g.stop()));
      await Promise.all(coordinators.map((c) => c.stop()));
      await Promise.all([...shards, ...extractors].map((s) => s.stop()));
    });
    const firstWave = [...extractors, ...shards, ...coordinators];
    for (const s of firstWave) s.process.start();
    await Promise.all(firstWave.map((s) => s.waitServing()));
    for (const g of gateways) g.process.start();
    await Promise.all(gateways.map((g) => g.waitServing()));
    await waitForMembers(etcd.endpoints, pki.admin, shardSpecs, timeoutMs, shards);

    const byName = Object.fromEntries(services.map((s) => [s.name, s]));
    const processes: Record<string, ProcessHandle> = Object.fromEntries(
      [...etcd.members, ...nats.nodes, ...services].map((h) => [h.name, h] as const),
    );
    // Where `npm run tajctl -- status` finds this cluster without --etcd/--nats/--coordinator
    // (the default path is .run/cluster/tajctl.json, this file when dir is .run/cluster).
    const tajctlConfig = join(dir, TAJCTL_CONFIG_FILE);
    writeTajctlConfig(tajctlConfig, {
      etcd: etcd.endpoints,
      nats: nats.urls,
      coordinators: coordinators.map((c) => c.address),
      gateway: gateways[0]!.address,
      tls: pki.admin,
    });
    stoppers.push(async () => rmSync(tajctlConfig, { force: true }));
    let stopping: Promise<void> | undefined;
    const stop = () => (stopping ??= stopAll());
    return {
      dir,
      ports,
      issuer,
      partitionCount,
      assignments,
      etcd,
      nats,
      pki,
      credentials: (kind: "admin" | "client" | "bearer" = "admin") =>
        kind === "bearer" ? tokenCallerCredentials(pki.caFile) : channelCredentials(kind === "admin" ? pki.admin : pki.client),
      natsOptions: () => ({ servers: nats.urls, ...natsTls(pki.admin, "admin") }),
      etcdOptions: () => ({ hosts: etcd.endpoints, credentials: etcdCredentials(pki.admin) }),
      services: byName,
      processes,
      addresses: {
        gateway: gateways[0]!.address,
        gateways: Object.fromEntries(gateways.map((g, i) => [sites[i]!, g.address])),
        coordinators: Object.fromEntries(coordinators.map((c, i) => [sites[i]!, c.address])),
        extractors: extractors.map((e) => e.address),
        shards: Object.fromEntries(shards.map((s, i) => [ids[i]!, s.address])),
        nats: Object.fromEntries(nats.nodes.map((n) => [n.node, n.url])),
        natsUrls: nats.urls,
        etcdEndpoints: etcd.endpoints,
      },
      shard(id) {
        const s = byName[`shard-${id}`];
        if (!s) throw new Error(`no shard ${id}`);
        return s;
      },
      shardsHolding: (site, partition) =>
        shardSpecs.filter((s) => s.site === site && s.partitions.includes(partition)).map((s) => `${network.hostOf(site)}:${ports.shards[s.id]!.grpc}`),
      waitForMember: async (site, shardId, ms = timeoutMs) => {
        const spec = shardSpecs.find((s) => s.site === site && s.id === shardId);
        if (!spec) throw new Error(`no shard ${shardId} at site ${site}`);
        await waitForMembers(etcd.endpoints, pki.admin, [spec], ms, [byName[`shard-${shardId}`]!]);
      },
      pids: () => Object.values(processes).flatMap((p) => (p.pid === undefined ? [] : [p.pid])),
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

function placement(network: ClusterNetwork, member: string): { host: string; netns?: string } {
  const netns = network.netnsOf(member);
  return { host: network.hostOf(member), ...(netns ? { netns } : {}) };
}

async function writeLayout(
  endpoints: string[], admin: TlsFiles, partitionCount: number, shards: Array<{ site: string; id: string; partitions: number[] }>,
): Promise<void> {
  const client = new Etcd3({ hosts: endpoints, credentials: etcdCredentials(admin) });
  try {
    await client.put(PARTITION_COUNT_KEY).value(String(partitionCount));
    // Replace the whole desired state so a kept (fresh: false) dir cannot carry stale shards.
    await client.delete().prefix(ASSIGNMENT_PREFIX);
    for (const { site, id, partitions } of shards) {
      await client.put(assignmentKey(site, id)).value(JSON.stringify({ partitions }));
    }
  } finally {
    client.close();
  }
}

async function createStream(urls: string[], admin: TlsFiles, replicas: number): Promise<void> {
  const nc = await connect({ servers: urls, name: "devcluster-bootstrap", ...natsTls(admin, "admin") });
  try {
    // The same bootstrap as `tajctl init`: the services only verify the streams. Retried because
    // once in CI (netns drill, 2 loaded cores) a stream request right after the placement probe
    // went unanswered for its whole timeout (nats.js TIMEOUT) while the new R3 group elected its
    // leader; the bootstrap is idempotent, so a retry after a create that did land changes nothing.
    const jsm = await nc.jetstreamManager({ timeout: 10_000 });
    await waitFor("stream bootstrap", async () => {
      await bootstrapStreams(jsm, clusterStreams({ replicas }));
      return true;
    }, { timeoutMs: 90_000, intervalMs: 1_000 });
  } finally {
    await nc.close();
  }
}

async function waitForMembers(
  endpoints: string[], admin: TlsFiles, expected: Array<{ site: string; id: string; partitions: number[] }>, timeoutMs: number,
  shards: ServiceHandle[],
): Promise<void> {
  const client = new Etcd3({ hosts: endpoints, credentials: etcdCredentials(admin) });
  try {
    await waitFor(
      "shards live in etcd with their assigned partitions",
      async () => {
        const kvs = await client.getAll().prefix(MEMBER_PREFIX).strings();
        const missing = expected.filter(({ site, id, partitions }) => {
          const value = kvs[memberKey(site, id)];
          const member = value === undefined ? undefined : Member.safeParse(JSON.parse(value));
          if (!member?.success) return true;
          const have = new Set(member.data.partitions);
          return !partitions.every((p) => have.has(p));
        });
        if (missing.length === 0) return true;
        throw new Error(`waiting for ${missing.map((m) => m.id).join(", ")}`);
      },
      {
        timeoutMs,
        intervalMs: 250,
        abortIf: () => shards.map((s) => s.process.deathNote()).find((n) => n !== undefined),
      },
    );
  } finally {
    client.close();
  }
}
