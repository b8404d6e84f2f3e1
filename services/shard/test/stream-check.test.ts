// A shard never creates the template log (the cluster bootstrap does): started without it, or with
// one that differs from the spec, the process answers its health check NOT_SERVING and logs the
// setting that differs; once `tajctl init` made it right, it serves.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { rmSync } from "node:fs";
import { connect } from "nats";
import { Etcd3 } from "etcd3";
import { PARTITION_COUNT_KEY, TEMPLATE_STREAM, TEMPLATE_SUBJECT_ROOT, assignmentKey } from "@taj/common";
import { checkHealth } from "@taj/devcluster";
import { tempDir } from "./helpers.ts";
import { admin, pki, shardTlsEnv, startEtcd, startNats, waitFor } from "./servers.ts";

// Ports of the shard helper's range (17200-17299): 17220-17223 are this file's.
const NATS_PORT = 17220;
const ETCD_PORT = 17221;
const ETCD_PEER_PORT = 17222;
const GRPC_PORT = 17223;
const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const TAJCTL = fileURLToPath(new URL("../../../packages/tajctl/src/main.ts", import.meta.url));

const cleanup: (() => void)[] = [];
after(() => cleanup.reverse().forEach((f) => f()));

test("shard process: NOT_SERVING without the stream and with a wrong one (logged), SERVING after the bootstrap", async () => {
  const nats = await startNats(NATS_PORT, { bootstrap: false });
  cleanup.push(() => nats.dispose());
  const etcdServer = await startEtcd(ETCD_PORT, ETCD_PEER_PORT);
  cleanup.push(() => etcdServer.dispose());
  const etcd = new Etcd3({ hosts: etcdServer.url, ...admin.etcd });
  cleanup.push(() => etcd.close());
  await etcd.put(PARTITION_COUNT_KEY).value("4");
  await etcd.put(assignmentKey("a", "s1")).value(JSON.stringify({ partitions: [0, 1] }));
  const dataDir = tempDir("shard-stream-check-");
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));

  const proc = spawn(process.execPath, ["--import", "tsx", MAIN], {
    env: {
      ...process.env, ...shardTlsEnv("shard-stream-check"),
      SHARD_ID: "s1", SITE: "a", GRPC_PORT: String(GRPC_PORT), DATA_DIR: dataDir, NATS_URLS: nats.url, ETCD_ENDPOINTS: etcdServer.url,
      LOG_LEVEL: "info", LOG_REPLICAS: "1", STREAM_CHECK_INTERVAL_MS: "100",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  cleanup.push(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  });
  const errors: string[] = [];
  let rest = "";
  proc.stdout.on("data", (b: Buffer) => {
    const lines = (rest + b.toString()).split("\n");
    rest = lines.pop() ?? "";
    for (const l of lines) {
      const entry = JSON.parse(l) as { level: number; msg: string };
      if (entry.level >= 50) errors.push(entry.msg);
    }
  });
  const health = () => checkHealth(`127.0.0.1:${GRPC_PORT}`, admin.grpc);
  const logged = (pattern: RegExp) => waitFor(`a log line ${pattern}`, async () => (errors.some((m) => pattern.test(m)) ? true : undefined));

  await logged(/NOT_SERVING: stream TAJ_TEMPLATES does not exist \(run `tajctl init`\)/);
  assert.equal(await health(), "NOT_SERVING");

  const nc = await connect({ servers: nats.url, ...admin.nats });
  cleanup.push(() => void nc.close());
  const jsm = await nc.jetstreamManager();
  // Subjects other than the log's and a limit that would drop templates: both named.
  await jsm.streams.add({ name: TEMPLATE_STREAM, subjects: ["other.>"], max_msgs_per_subject: 2, max_age: 3_600_000_000_000, duplicate_window: 120_000_000_000 });
  await logged(/subjects is \[other\.>\], expected \[taj\.tpl\.>\].*max_age is 3600000000000, expected 0/);
  assert.equal(await health(), "NOT_SERVING");

  // The operator's bootstrap, as run in a real cluster: `tajctl init` with the admin certificate.
  const init = spawnSync(process.execPath, ["--import", "tsx", TAJCTL, "--nats", nats.url,
    "--tls-ca", pki.admin.caFile, "--tls-cert", pki.admin.certFile, "--tls-key", pki.admin.keyFile, "init", "--replicas", "1", "--json"], { encoding: "utf8" });
  assert.equal(init.status, 0, init.stderr);
  assert.deepEqual((JSON.parse(init.stdout) as Array<{ action: string }>).map((r) => r.action), ["updated", "created"]);
  assert.deepEqual((await jsm.streams.info(TEMPLATE_STREAM)).config.subjects, [`${TEMPLATE_SUBJECT_ROOT}.>`]);
  await waitFor("SERVING after the bootstrap", async () => ((await health()) === "SERVING" ? true : undefined));
  proc.kill("SIGTERM");
});
