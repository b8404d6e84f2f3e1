// The endpoints file (what the local cluster writes): it fills the options not given, flags and
// env win over it, and a named file that is missing is an error.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeTajctlConfig } from "@taj/common";
import { buildProgram } from "../src/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "taj-tajctl-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, ".run", "cluster"), { recursive: true });
const file = join(dir, ".run", "cluster", "tajctl.json");
writeTajctlConfig(file, {
  etcd: ["https://127.0.0.1:30010"], nats: ["nats://127.0.0.1:30000"], coordinators: ["127.0.0.1:30030"], gateway: "127.0.0.1:30040",
  tls: { caFile: "/pki/ca.pem", certFile: "/pki/admin.pem", keyFile: "/pki/admin.key" },
});

/** The global options a command sees, after parsing `args` in `cwd`. */
async function globalsFor(args: string[], cwd: string): Promise<Record<string, unknown>> {
  const program = buildProgram(() => undefined, { cwd });
  let seen: Record<string, unknown> = {};
  program.command("probe").action(() => {
    seen = program.opts();
  });
  await program.parseAsync(["node", "tajctl", ...args, "probe"]);
  return seen;
}

test("found at the default path: every endpoint and the admin certificate, no flag typed", async () => {
  const g = await globalsFor([], dir);
  assert.deepEqual(g.etcd, ["https://127.0.0.1:30010"]);
  assert.deepEqual(g.nats, ["nats://127.0.0.1:30000"]);
  assert.deepEqual(g.coordinator, ["127.0.0.1:30030"]);
  assert.deepEqual([g.tlsCa, g.tlsCert, g.tlsKey], ["/pki/ca.pem", "/pki/admin.pem", "/pki/admin.key"]);
});

test("a flag and an env variable win over the file", async () => {
  process.env.NATS_URLS = "nats://10.0.0.1:4222";
  try {
    const g = await globalsFor(["--etcd", "https://etcd-a:2379"], dir);
    assert.deepEqual(g.etcd, ["https://etcd-a:2379"]);
    assert.deepEqual(g.nats, ["nats://10.0.0.1:4222"]);
    assert.deepEqual(g.coordinator, ["127.0.0.1:30030"], "the rest still from the file");
  } finally {
    delete process.env.NATS_URLS;
  }
});

test("--config (TAJCTL_CONFIG) names the file from anywhere; a named file that is missing is an error", async () => {
  const elsewhere = mkdtempSync(join(tmpdir(), "taj-tajctl-elsewhere-"));
  try {
    assert.deepEqual((await globalsFor(["--config", file], elsewhere)).etcd, ["https://127.0.0.1:30010"]);
    await assert.rejects(globalsFor(["--config", join(elsewhere, "none.json")], elsewhere), /none\.json \(--config \/ TAJCTL_CONFIG\) does not exist/);
  } finally {
    rmSync(elsewhere, { recursive: true, force: true });
  }
});
