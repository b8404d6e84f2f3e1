import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { rmSync } from "node:fs";
import { connect } from "nats";
import { Etcd3 } from "etcd3";
import { create } from "@bufbuild/protobuf";
import { Modality, SearchMode, ShardService, TemplateEventSchema } from "@taj/proto";
import {
  assignmentKey, createClient, encodeTemplateEvent, memberKey, partitionOf, PARTITION_COUNT_KEY, templateSubject,
} from "@taj/common";
import { prng, tempDir, unitVector } from "./helpers.ts";
import { admin, shardTlsEnv, startEtcd, startNats, waitFor } from "./servers.ts";

// Ports of the scaling helper's range (19500-19599).
const NATS_PORT = 19501;
const ETCD_PORT = 19502;
const ETCD_PEER_PORT = 19503;
const PARTITIONS = 4;
const SITE = "a";
const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));

const cleanup: (() => void)[] = [];
after(() => cleanup.reverse().forEach((f) => f()));

function startShard(id: string, grpcPort: number, natsUrl: string, etcdUrl: string): ChildProcess {
  const dataDir = tempDir(`shard-move-${id}-`);
  const proc = spawn(process.execPath, ["--import", "tsx", MAIN], {
    env: {
      ...process.env,
      ...shardTlsEnv(`shard-${id}`),
      SHARD_ID: id, SITE, GRPC_PORT: String(grpcPort), DATA_DIR: dataDir, NATS_URLS: natsUrl, ETCD_ENDPOINTS: etcdUrl,
      LOG_LEVEL: "warn", LEASE_TTL_S: "2", RELEASE_GRACE_MS: "1500",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  cleanup.push(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  });
  return proc;
}

test("a shard with no assignment registers; a handed-over partition leaves the member entry before the shard stops answering for it", async () => {
  const nats = await startNats(NATS_PORT);
  cleanup.push(() => nats.dispose());
  const etcdServer = await startEtcd(ETCD_PORT, ETCD_PEER_PORT);
  cleanup.push(() => etcdServer.dispose());
  const etcd = new Etcd3({ hosts: etcdServer.url, ...admin.etcd });
  cleanup.push(() => etcd.close());
  await etcd.put(PARTITION_COUNT_KEY).value(String(PARTITIONS));
  await etcd.put(assignmentKey(SITE, "s1")).value(JSON.stringify({ partitions: [0, 1, 2, 3] }));

  startShard("s1", 19510, nats.url, etcdServer.url);
  startShard("s2", 19511, nats.url, etcdServer.url);
  const s1 = createClient(ShardService, "127.0.0.1:19510", admin.grpc);
  const s2 = createClient(ShardService, "127.0.0.1:19511", admin.grpc);
  cleanup.push(() => s1.close(), () => s2.close());
  const member = async (id: string) => {
    const raw = await etcd.get(memberKey(SITE, id)).string();
    return raw === null ? undefined : (JSON.parse(raw) as { address: string; partitions: number[] });
  };

  // An empty shard must be visible to operators before it owns anything, or nothing could be moved to it.
  const empty = await waitFor("s2 registered with no partitions", async () => member("s2"));
  assert.deepEqual(empty.partitions, []);
  assert.equal(empty.address, "127.0.0.1:19511");

  const nc = await connect({ servers: nats.url, ...admin.nats });
  cleanup.push(() => void nc.close());
  await waitFor("stream", async () => ((await (await nc.jetstreamManager()).streams.info("TAJ_TEMPLATES")) ? true : undefined));
  const js = nc.jetstream();
  const rand = prng(99);
  const vectors = new Map<string, Float32Array>();
  for (let i = 0; i < 200; i++) {
    const id = `m-${i}`;
    const v = unitVector(rand);
    vectors.set(id, v);
    const event = create(TemplateEventSchema, { event: { case: "enrolled", value: { id, modality: Modality.FACE, template: [...v] } } });
    await js.publish(templateSubject(Modality.FACE, partitionOf(id, PARTITIONS), id), encodeTemplateEvent(event));
  }
  const [probeId, probe] = [...vectors].find(([id]) => partitionOf(id, PARTITIONS) === 3)!;
  const search = (client: typeof s1) =>
    client.shardSearch({ modality: Modality.FACE, partitions: [3], template: [...probe], k: 1, mode: SearchMode.EXHAUSTIVE });
  await waitFor("s1 serves partition 3", async () => ((await search(s1)).hits[0]?.id === probeId ? true : undefined));

  // Protocol step 1-2: add 3 to s2, which replays the log for it and then lists it.
  await etcd.put(assignmentKey(SITE, "s2")).value(JSON.stringify({ partitions: [3] }));
  await waitFor("s2 lists partition 3", async () => ((await member("s2"))?.partitions.includes(3) ? true : undefined));
  assert.equal((await search(s2)).hits[0]?.id, probeId, "s2 answers for 3 once it lists it");
  const expected = [...vectors.keys()].filter((id) => partitionOf(id, PARTITIONS) === 3).length;
  const counted = (await s2.shardStatus({})).counts.find((c) => c.partition === 3)?.templates;
  assert.equal(counted, BigInt(expected), "s2 replayed every template of partition 3");

  // Step 3-4: remove 3 from s1. The first visible effect is the member entry; s1 still answers meanwhile.
  await etcd.put(assignmentKey(SITE, "s1")).value(JSON.stringify({ partitions: [0, 1, 2] }));
  await waitFor("s1 withdraws partition 3", async () => ((await member("s1"))?.partitions.includes(3) ? undefined : true), 100, 20);
  const during = await search(s1);
  assert.equal(during.hits[0]?.id, probeId, "still served during the grace period, so in-flight routes do not fail");
  await waitFor("s1 drops partition 3", async () => ((await s1.shardStatus({})).counts.some((c) => c.partition === 3) ? undefined : true));
  await assert.rejects(search(s1), /not served by this replica/);
  assert.deepEqual((await member("s1"))?.partitions, [0, 1, 2]);
  assert.deepEqual((await member("s2"))?.partitions, [3]);
});
