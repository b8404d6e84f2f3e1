// Transport security of a whole local cluster: every port refuses plaintext and foreign CAs,
// each internal server admits only its callers' kinds, NATS users have only their permissions,
// and rotated certificates reach new connections without restarting anything.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { Etcd3 } from "etcd3";
import { connect, StorageType, type NatsConnection } from "nats";
import {
  AppError, PARTITION_COUNT_KEY, TEMPLATE_STREAM, channelCredentials, createClient, etcdCredentials, natsTls, type PeerKind, type TlsFiles,
  AUDIT_STREAM, type TajctlConfig,
} from "@taj/common";
import { CoordinatorService, ErrorCode, ExtractorService, MatchingService, Modality, ShardService } from "@taj/proto";
import { checkHealth, createPki, repoRoot, startLocalCluster, type LocalCluster, type Pki } from "@taj/devcluster";

let cluster: LocalCluster;
let foreign: Pki;
let admin: NatsConnection;
const foreignDir = mkdtempSync(join(tmpdir(), "taj-foreign-ca-"));
const clusterDir = mkdtempSync(join(tmpdir(), "taj-tls-test-"));

before(async () => {
  cluster = await startLocalCluster({
    dir: clusterDir,
    basePort: 21400,
    shardsPerSite: 1,
    extractors: 1,
    partitionCount: 4,
    logLevel: "warn",
    // A short reload interval so the rotation test waits seconds, not the default 5 s per check.
    serviceEnv: { shard: { TLS_RELOAD_INTERVAL_MS: "300" } },
  });
  foreign = createPki(foreignDir);
  admin = await connect({ ...cluster.natsOptions(), name: "tls-test-admin" });
  // The cluster bootstrap made both streams; one audit message so the shard's read of it can be tried.
  admin.publish("taj.audit.test", new TextEncoder().encode("{}"));
  await admin.flush();
});

after(async () => {
  await admin?.close();
  await cluster?.stop();
  rmSync(foreignDir, { recursive: true, force: true });
  rmSync(clusterDir, { recursive: true, force: true });
});

const grpcPorts = () => ({
  gateway: cluster.addresses.gateway,
  extractor: cluster.addresses.extractors[0]!,
  coordinator: cluster.addresses.coordinators["a"]!,
  shard: cluster.addresses.shards["a1"]!,
});
const identity = (kind: PeerKind, pki: Pki = cluster.pki): TlsFiles => pki.issue(kind, `test-${kind}`);
const isCode = (code: ErrorCode) => (err: unknown) => {
  assert.ok(err instanceof AppError, String(err));
  assert.equal(ErrorCode[err.code], ErrorCode[code]);
  return true;
};

describe("plaintext is refused on each of the six kinds of port", () => {
  for (const kind of ["gateway", "extractor", "coordinator", "shard"] as const) {
    test(`${kind} (gRPC)`, async () => {
      await assert.rejects(checkHealth(grpcPorts()[kind], grpc.credentials.createInsecure(), "", 2_000), /health check of/);
      // The same check over TLS answers: the refusal is the plaintext's, not a dead port's.
      assert.equal(await checkHealth(grpcPorts()[kind], cluster.credentials()), "SERVING");
    });
  }

  test("NATS", async () => {
    // nats.js upgrades to TLS when the server demands it, but without a client certificate it is turned away.
    await assert.rejects(connect({ servers: cluster.addresses.nats["a"]!, reconnect: false, timeout: 2_000 }));
  });

  test("etcd", async () => {
    const http = cluster.addresses.etcdEndpoints[0]!.replace("https://", "http://");
    const res = await fetch(`${http}/health`, { signal: AbortSignal.timeout(2_000) }).catch((err: unknown) => err);
    assert.ok(!(res instanceof Response) || !res.ok, "a plaintext /health gets no answer");
    const plain = new Etcd3({ hosts: http, dialTimeout: 1_500 });
    await assert.rejects(plain.get(PARTITION_COUNT_KEY).string());
    plain.close();
    // TLS without a client certificate: refused too (--client-cert-auth).
    const anonymous = new Etcd3({
      hosts: cluster.addresses.etcdEndpoints[0]!, dialTimeout: 1_500, credentials: { rootCertificate: readFileSync(cluster.pki.caFile) },
    });
    await assert.rejects(anonymous.get(PARTITION_COUNT_KEY).string());
    anonymous.close();
  });
});

describe("a certificate from another CA is refused", () => {
  for (const kind of ["extractor", "coordinator", "shard"] as const) {
    test(`${kind}`, async () => {
      // An admin certificate (allowed everywhere) that the cluster's CA did not sign.
      await assert.rejects(checkHealth(grpcPorts()[kind], channelCredentials(foreign.admin), "", 2_000));
    });
  }

  test("gateway: a client trusting another CA cannot verify the gateway", async () => {
    await assert.rejects(checkHealth(grpcPorts().gateway, channelCredentials(foreign.client), "", 2_000));
  });

  test("NATS and etcd", async () => {
    await assert.rejects(connect({ servers: cluster.addresses.nats["a"]!, reconnect: false, timeout: 2_000, ...natsTls(foreign.admin, "admin") }));
    const etcd = new Etcd3({ hosts: cluster.addresses.etcdEndpoints[0]!, dialTimeout: 1_500, credentials: etcdCredentials(foreign.admin) });
    await assert.rejects(etcd.get(PARTITION_COUNT_KEY).string());
    etcd.close();
  });
});

describe("each internal server admits only the kinds that should call it", () => {
  test("a gateway's certificate cannot list a shard's templates", async () => {
    const shard = createClient(ShardService, grpcPorts().shard, channelCredentials(identity("gateway")));
    await assert.rejects(shard.listTemplates({ modality: Modality.FACE, partition: 0 }), isCode(ErrorCode.PERMISSION_DENIED));
    shard.close();
  });

  test("an extractor's certificate cannot search through a coordinator", async () => {
    const coordinator = createClient(CoordinatorService, grpcPorts().coordinator, channelCredentials(identity("extractor")));
    await assert.rejects(coordinator.clusterStatus({}), isCode(ErrorCode.PERMISSION_DENIED));
    coordinator.close();
  });

  test("a shard's or TAJ client's certificate cannot extract templates", async () => {
    for (const kind of ["shard", "client"] as const) {
      const extractor = createClient(ExtractorService, grpcPorts().extractor, channelCredentials(identity(kind)));
      await assert.rejects(extractor.extract({ modality: Modality.FACE, image: new Uint8Array([1]) }), isCode(ErrorCode.PERMISSION_DENIED), kind);
      extractor.close();
    }
  });

  test("TAJ's client certificate cannot call a shard or a coordinator directly", async () => {
    const creds = cluster.credentials("client");
    const shard = createClient(ShardService, grpcPorts().shard, creds);
    await assert.rejects(shard.shardStatus({}), isCode(ErrorCode.PERMISSION_DENIED));
    shard.close();
    const coordinator = createClient(CoordinatorService, grpcPorts().coordinator, creds);
    await assert.rejects(coordinator.clusterStatus({}), isCode(ErrorCode.PERMISSION_DENIED));
    coordinator.close();
  });

  test("the gateway's public port asks for a certificate but admits a TLS caller without one (bearer tokens)", async () => {
    const anonymous = grpc.credentials.createSsl(readFileSync(cluster.pki.caFile));
    const gateway = createClient(MatchingService, grpcPorts().gateway, anonymous);
    // Reaches the service (an answer of the API, not a transport failure); who may do what is the gateway's auth.
    await assert.rejects(gateway.get({ modality: Modality.FACE, id: "NO-SUCH-ID" }), (err: unknown) => err instanceof AppError && err.code !== ErrorCode.UNAVAILABLE);
    gateway.close();
  });

  test("the callers that should, can: coordinator -> shard, and TAJ's client -> gateway", async () => {
    const shard = createClient(ShardService, grpcPorts().shard, channelCredentials(identity("coordinator")));
    assert.equal((await shard.shardStatus({})).shardId, "a1");
    shard.close();
    const gateway = createClient(MatchingService, grpcPorts().gateway, cluster.credentials("client"));
    await assert.rejects(gateway.get({ modality: Modality.FACE, id: "NO-SUCH-ID" }), isCode(ErrorCode.NOT_FOUND));
    gateway.close();
  });
});

describe("NATS users have only their kind's permissions", () => {
  const as = (kind: PeerKind) =>
    connect({ servers: cluster.addresses.nats["a"]!, reconnect: false, timeout: 3_000, ...natsTls(identity(kind), kind) });
  const lastSeq = async (stream: string) => (await (await admin.jetstreamManager()).streams.info(stream)).state.last_seq;

  test("a shard cannot publish to taj.tpl.>", async () => {
    const before = await lastSeq(TEMPLATE_STREAM);
    const nc = await as("shard");
    await assert.rejects(nc.jetstream().publish("taj.tpl.face.0.INTRUDER", new Uint8Array([1]), { timeout: 2_000 }));
    await nc.close();
    assert.equal(await lastSeq(TEMPLATE_STREAM), before, "nothing was stored");
  });

  test("a shard cannot read the audit stream", async () => {
    const nc = await as("shard");
    const jsm = await nc.jetstreamManager();
    await assert.rejects(jsm.streams.info(AUDIT_STREAM));
    await assert.rejects(jsm.streams.getMessage(AUDIT_STREAM, { seq: 1 }));
    await assert.rejects(jsm.consumers.add(AUDIT_STREAM, { name: "snoop" }));
    // But it may read its own stream's info (what its feed does).
    assert.equal((await jsm.streams.info(TEMPLATE_STREAM)).config.name, TEMPLATE_STREAM);
    await nc.close();
  });

  test("a gateway cannot delete or purge the template stream", async () => {
    const nc = await as("gateway");
    const jsm = await nc.jetstreamManager();
    await assert.rejects(jsm.streams.delete(TEMPLATE_STREAM));
    await assert.rejects(jsm.streams.purge(TEMPLATE_STREAM));
    await nc.close();
    assert.equal((await (await admin.jetstreamManager()).streams.info(TEMPLATE_STREAM)).config.name, TEMPLATE_STREAM, "still there");
  });

  test("no service may create, update or delete a stream: the cluster bootstrap owns them", async () => {
    for (const kind of ["gateway", "shard"] as const) {
      const nc = await as(kind);
      const jsm = await nc.jetstreamManager({ timeout: 2_000 });
      // Even the stream's own subjects, as a service that "repairs" it would try.
      await assert.rejects(jsm.streams.add({ name: `${kind.toUpperCase()}_OWN`, subjects: [`own.${kind}.>`], storage: StorageType.Memory }), kind);
      await assert.rejects(jsm.streams.update(TEMPLATE_STREAM, { max_msgs_per_subject: 1 }), kind);
      await assert.rejects(jsm.streams.update(AUDIT_STREAM, { max_age: 1 }), kind);
      // Reading the settings is what the start-up check needs, and is allowed (the shard only on its stream).
      assert.equal((await jsm.streams.info(TEMPLATE_STREAM)).config.max_msgs_per_subject, 2, kind);
      await nc.close();
    }
    const info = await (await admin.jetstreamManager()).streams.info(TEMPLATE_STREAM);
    assert.equal(info.config.max_msgs_per_subject, 2, "unchanged");
  });

  test("kinds that never use NATS (coordinator, extractor, client) have no user", async () => {
    for (const kind of ["coordinator", "extractor", "client"] as const) await assert.rejects(as(kind), kind);
  });
});

/** What these tests read of `tajctl status --json` (packages/tajctl's StatusReport). */
interface StatusReport {
  partitionCount: number;
  lastSequence?: number;
  coordinators: Array<{ address: string; ok: boolean }>;
  shards: Array<{ shard: string }>;
}

describe("tajctl finds the local cluster through the endpoints file it wrote", () => {
  const tajctl = (args: string[], options: { cwd: string; env?: Record<string, string> }) => {
    // Nothing of the cluster in the environment: what tajctl knows comes from the file (or the flags).
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) =>
      !/^(TLS_|ETCD_ENDPOINTS|NATS_URLS|COORDINATOR_ADDRESSES|TAJCTL_CONFIG|TAJ_GATEWAY)/.test(k)));
    // tsx resolved here: the runs below start in directories outside the repository.
    return spawnSync(process.execPath, ["--import", import.meta.resolve("tsx"), join(repoRoot, "packages/tajctl/src/main.ts"), ...args], {
      cwd: options.cwd, env: { ...env, ...options.env }, encoding: "utf8", timeout: 60_000,
    });
  };
  const configFile = () => join(cluster.dir, "tajctl.json");

  test("the file lists every endpoint and the admin certificate", () => {
    const config = JSON.parse(readFileSync(configFile(), "utf8")) as TajctlConfig;
    assert.deepEqual(config.etcd, cluster.addresses.etcdEndpoints);
    assert.deepEqual(config.nats, cluster.addresses.natsUrls);
    assert.deepEqual(config.coordinators.sort(), Object.values(cluster.addresses.coordinators).sort());
    assert.equal(config.tls.certFile, cluster.pki.admin.certFile);
  });

  test("`tajctl status` with no endpoint flag: TAJCTL_CONFIG, then the default path .run/cluster/tajctl.json", () => {
    const cwd = mkdtempSync(join(tmpdir(), "taj-tajctl-cwd-"));
    try {
      for (const run of [
        () => tajctl(["status", "--json"], { cwd, env: { TAJCTL_CONFIG: configFile() } }),
        () => {
          mkdirSync(join(cwd, ".run", "cluster"), { recursive: true });
          copyFileSync(configFile(), join(cwd, ".run", "cluster", "tajctl.json"));
          return tajctl(["status", "--json"], { cwd });
        },
      ]) {
        const r = run();
        assert.equal(r.status, 0, r.stderr);
        const report = JSON.parse(r.stdout) as StatusReport;
        assert.equal(report.partitionCount, 4);
        assert.ok(report.lastSequence !== undefined, "the template log's head was read over NATS");
        assert.deepEqual(report.coordinators.map((c) => c.ok), [true, true]);
        assert.deepEqual(report.shards.map((s) => s.shard).sort(), ["a1", "b1"]);
      }
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  test("a flag overrides the file; a TAJCTL_CONFIG naming no file is an error", () => {
    const r = tajctl(["--coordinator", "127.0.0.1:9", "status", "--json"], { cwd: tmpdir(), env: { TAJCTL_CONFIG: configFile() } });
    const report = JSON.parse(r.stdout) as StatusReport;
    assert.deepEqual(report.coordinators.map((c) => [c.address, c.ok]), [["127.0.0.1:9", false]]);
    assert.equal(r.status, 3, "a problem found");
    const missing = tajctl(["status"], { cwd: tmpdir(), env: { TAJCTL_CONFIG: join(tmpdir(), "no-such-tajctl.json") } });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no-such-tajctl\.json \(--config \/ TAJCTL_CONFIG\) does not exist/);
  });

  test("`tajctl init` is the bootstrap devcluster ran: on this cluster it changes nothing", () => {
    const r = tajctl(["init", "--replicas", "3", "--json"], { cwd: tmpdir(), env: { TAJCTL_CONFIG: configFile() } });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as Array<{ stream: string; action: string }>).map((x) => [x.stream, x.action]), [
      [TEMPLATE_STREAM, "unchanged"], [AUDIT_STREAM, "unchanged"],
    ]);
  });
});

/** Serial of the certificate a server presents to a new TLS connection. */
function servedSerial(host: string, port: number, alpn: string[] = []): Promise<string> {
  const me = cluster.pki.admin;
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host, port, ca: readFileSync(me.caFile), cert: readFileSync(me.certFile), key: readFileSync(me.keyFile),
      ...(alpn.length > 0 ? { ALPNProtocols: alpn } : {}),
    }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.setTimeout(3_000, () => socket.destroy(new Error("timeout")));
    socket.on("error", reject);
  });
}

async function untilServed(what: string, serial: string, probe: () => Promise<string>): Promise<void> {
  let seen = "";
  for (let i = 0; i < 100 && seen !== serial; i++) {
    seen = await probe().catch(() => "");
    if (seen !== serial) await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(seen, serial, `${what} presents the re-issued certificate`);
}

const serialOf = (files: TlsFiles) => new X509Certificate(readFileSync(files.certFile)).serialNumber;

describe("a rotated certificate reaches new connections without a restart", () => {
  test("shard (gRPC): re-read by the file watcher", async () => {
    const proc = cluster.processes["shard-a1"]!;
    const pid = proc.pid;
    const [host, port] = grpcPorts().shard.split(":") as [string, string];
    const old = await servedSerial(host, Number(port), ["h2"]);
    const files = cluster.pki.reissue("shard", "shard-a1", [host]);
    assert.notEqual(serialOf(files), old);
    await untilServed("the shard", serialOf(files), () => servedSerial(host, Number(port), ["h2"]));
    assert.equal(proc.pid, pid, "same process");
    const shard = createClient(ShardService, grpcPorts().shard, cluster.credentials());
    assert.equal((await shard.shardStatus({})).shardId, "a1", "and it still serves");
    shard.close();
  });

  test("NATS: nats-server --signal reload (SIGHUP)", async () => {
    const node = cluster.nats.node("a");
    const pid = node.process.pid;
    const { hostname, port } = new URL(node.url.replace("nats://", "http://"));
    const files = cluster.pki.reissue("nats", "nats-a", [hostname]);
    node.reloadConfig();
    await untilServed("nats-a", serialOf(files), () => servedSerialNats(hostname, Number(port)));
    assert.equal(node.process.pid, pid, "same process");
    const nc = await connect({ ...cluster.natsOptions(), servers: node.url, reconnect: false, timeout: 2_000 });
    await nc.close();
  });

  test("NATS client: nats.js reads its files again on a reconnect", async () => {
    const node = cluster.nats.node("a");
    const files = cluster.pki.issue("admin", "rotating-nats-client");
    const fingerprint = () => new X509Certificate(readFileSync(files.certFile)).fingerprint256.replaceAll(":", "").toLowerCase();
    // What the server says the client presented (its monitor lists each connection's certificate).
    const presented = async () => {
      const connz = (await (await fetch(`${node.monitorUrl}/connz?auth=true`)).json()) as {
        connections?: Array<{ name?: string; tls_peer_certs?: Array<{ cert_sha256?: string }> }>;
      };
      return connz.connections?.find((c) => c.name === "rotating-nats-client")?.tls_peer_certs?.[0]?.cert_sha256;
    };
    // Pinned to node a (no servers learnt from the cluster), so the reconnect lands where we look.
    const nc = await connect({
      servers: node.url, name: "rotating-nats-client", reconnectTimeWait: 100, ignoreClusterUpdates: true, ...natsTls(files, "admin"),
    });
    try {
      const before = fingerprint();
      assert.equal(await presented(), before);
      cluster.pki.reissue("admin", "rotating-nats-client");
      assert.notEqual(fingerprint(), before);
      assert.equal(await presented(), before, "an open connection keeps the certificate of its handshake");
      await nc.reconnect();
      await untilServed("the reconnected client", fingerprint(), async () => (await presented()) ?? "");
    } finally {
      await nc.close();
    }
  });

  test("etcd: re-read on new handshakes", async () => {
    const member = cluster.etcd.member("a");
    const pid = member.process.pid;
    const { hostname, port } = new URL(member.endpoint);
    const files = cluster.pki.reissue("etcd", "etcd-a", [hostname]);
    await untilServed("etcd-a", serialOf(files), () => servedSerial(hostname, Number(port)));
    assert.equal(member.process.pid, pid, "same process");
    const etcd = new Etcd3(cluster.etcdOptions());
    assert.equal(await etcd.get(PARTITION_COUNT_KEY).string(), "4", "and it still serves");
    etcd.close();
  });
});

/** nats-server sends INFO in plaintext, then upgrades: read the line, then start TLS on the same socket. */
async function servedSerialNats(host: string, port: number): Promise<string> {
  const { connect: netConnect } = await import("node:net");
  const me = cluster.pki.admin;
  return new Promise((resolve, reject) => {
    const raw = netConnect(port, host);
    raw.once("data", () => {
      const socket = tlsConnect({ socket: raw, ca: readFileSync(me.caFile), cert: readFileSync(me.certFile), key: readFileSync(me.keyFile), servername: "localhost" }, () => {
        resolve(socket.getPeerCertificate().serialNumber);
        socket.destroy();
      });
      socket.on("error", reject);
    });
    raw.setTimeout(3_000, () => raw.destroy(new Error("timeout")));
    raw.on("error", reject);
  });
}
