// Real etcd and nats-server processes: the building blocks of every local cluster.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { connect, type NatsConnection } from "nats";
import {
  createPki, ensureServerBinaries, portLayout, startEtcdCluster, startNatsCluster, waitFor, type EtcdCluster, type NatsCluster,
} from "@taj/devcluster";
import { etcdCredentials, natsTls } from "@taj/common";

const dir = mkdtempSync(join(tmpdir(), "taj-devcluster-"));
const ports = portLayout(18000, ["a", "b"], 1, 1);
const pki = createPki(dir);
const members = ["a", "b", "w"];
let etcd: EtcdCluster;
let nats: NatsCluster;
let nc: NatsConnection | undefined;
let etcdClient: Etcd3 | undefined;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

before(async () => {
  const binaries = ensureServerBinaries();
  [etcd, nats] = await Promise.all([
    startEtcdCluster({
      dir,
      binary: binaries.etcd,
      pki,
      members: members.map((m) => ({ name: m, site: m, clientPort: ports.etcd[m]!.client, peerPort: ports.etcd[m]!.peer })),
    }),
    startNatsCluster({
      dir,
      binary: binaries.natsServer,
      pki,
      nodes: members.map((m) => ({ name: m, site: m, clientPort: ports.nats[m]!.client, clusterPort: ports.nats[m]!.cluster, monitorPort: ports.nats[m]!.monitor })),
    }),
  ]);
});

after(async () => {
  await nc?.close();
  etcdClient?.close();
  await Promise.all([nats?.stop(1_000), etcd?.stop(1_000)]);
  rmSync(dir, { recursive: true, force: true });
});

test("etcd forms one cluster of three members", async () => {
  etcdClient = new Etcd3({ hosts: etcd.endpoints, credentials: etcdCredentials(pki.admin) });
  const list = await etcdClient.cluster.memberList({});
  assert.deepEqual(list.members.map((m) => m.name).sort(), ["a", "b", "w"]);
  await etcdClient.put("/devcluster-test/k").value("v1");
  assert.equal(await etcdClient.get("/devcluster-test/k").string(), "v1");
});

test("JetStream places a 3-replica stream on the three nodes and stores messages", async () => {
  nc = await connect({ servers: nats.urlsFor("a"), ...natsTls(pki.admin, "admin") });
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.add({ name: "DEVCLUSTER_TEST", subjects: ["dctest.>"], num_replicas: 3 });
  const servers = [info.cluster?.leader, ...(info.cluster?.replicas ?? []).map((r) => r.name)].sort();
  assert.deepEqual(servers, ["a", "b", "w"]);
  const ack = await nc.jetstream().publish("dctest.one", new TextEncoder().encode("1"));
  assert.equal(ack.seq, 1);
});

test("losing one NATS node and one etcd member leaves both clusters working", async () => {
  const natsW = nats.node("w");
  const etcdW = etcd.member("w");
  // Made before the kill: making one asks the JetStream API, which needs a meta leader.
  const jsm = await nc!.jetstreamManager();
  const killedPids = [natsW.pid!, etcdW.pid!];
  assert.equal(natsW.kill("SIGKILL"), true);
  assert.equal(etcdW.kill("SIGKILL"), true);
  await Promise.all([natsW.process.waitExit(), etcdW.process.waitExit()]);
  assert.ok(killedPids.every((pid) => !alive(pid)));

  // Quorum is 2 of 3 for both; a leader that was on "w" is replaced within seconds.
  await waitFor("etcd write with one member down", async () => {
    await etcdClient!.put("/devcluster-test/k").value("v2");
    return true;
  }, { timeoutMs: 20_000 });
  assert.equal(await etcdClient!.get("/devcluster-test/k").string(), "v2");

  const js = nc!.jetstream();
  const ack = await waitFor("R3 publish with one node down", () => js.publish("dctest.two", new TextEncoder().encode("2"), { timeout: 2_000 }), { timeoutMs: 30_000 });
  assert.equal(ack.seq, 2);
  // The JetStream API may answer only once a new meta leader is elected, if "w" was it.
  const info = await waitFor("stream info with one node down", () => jsm.streams.info("DEVCLUSTER_TEST"), { timeoutMs: 30_000 });
  assert.equal(info.state.messages, 2);

  // Both come back on their old data and rejoin.
  await Promise.all([natsW.restart(), etcdW.restart()]);
  const list = await etcdClient!.cluster.memberList({});
  assert.equal(list.members.length, 3);
  await waitFor("restarted node's replica current", async () => {
    const s = await jsm.streams.info("DEVCLUSTER_TEST");
    const w = s.cluster?.leader === "w" ? { current: true } : s.cluster?.replicas?.find((r) => r.name === "w");
    return w?.current ? true : undefined;
  }, { timeoutMs: 30_000 });
});

test("stop ends every process it started and nothing else", async () => {
  // Whatever runs now (all six, unless an earlier test failed midway) must be gone after stop.
  const pids = [...etcd.members, ...nats.nodes].flatMap((h) => (h.pid === undefined ? [] : [h.pid]));
  assert.ok(pids.length > 0 && pids.every(alive));
  await nc?.close();
  nc = undefined;
  etcdClient?.close();
  etcdClient = undefined;
  await Promise.all([nats.stop(2_000), etcd.stop(2_000)]);
  assert.deepEqual(pids.filter(alive), []);
  assert.ok([...etcd.members, ...nats.nodes].every((h) => h.pid === undefined));
});
