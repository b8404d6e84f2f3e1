// deploy/systemd: every service has a hardened unit, and `systemd-analyze verify` (the systemd
// package) accepts each one. The release's node (/opt/taj/current/bin/node) is not on this machine:
// the check runs on a copy whose ExecStart names this process's node, the rest unchanged.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findBinary, repoRoot } from "@taj/devcluster";

const dir = join(repoRoot, "deploy", "systemd");
const units = readdirSync(dir).filter((f) => f.endsWith(".service")).sort();
const RELEASE_NODE = "/opt/taj/current/bin/node";

/** Key=value lines of a unit, by section; a key may repeat. */
function parseUnit(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) { section = s[1]!; continue; }
    const eq = line.indexOf("=");
    const k = `${section}.${line.slice(0, eq)}`;
    keys.set(k, [...(keys.get(k) ?? []), line.slice(eq + 1)]);
  }
  return keys;
}

function analyzer(): string {
  const bin = findBinary("systemd-analyze");
  assert.ok(bin, "systemd-analyze not found: run `bash scripts/install-deps.sh` (installs Debian's systemd package)");
  return bin;
}

describe("deploy/systemd", () => {
  test("one unit per service of the project, NATS and etcd included", () => {
    assert.deepEqual(units, ["coordinator", "etcd", "extractor", "gateway", "nats", "shard"].map((s) => `taj-${s}.service`));
    for (const svc of readdirSync(join(repoRoot, "services"))) assert.ok(units.includes(`taj-${svc}.service`), `unit for services/${svc}`);
  });

  for (const unit of units) {
    test(`${unit}: hardened, own user, config from an EnvironmentFile, writes only its data dir`, () => {
      const u = parseUnit(readFileSync(join(dir, unit), "utf8"));
      const one = (k: string) => u.get(`Service.${k}`)?.at(-1);
      const name = unit.replace(/\.service$/, "");
      assert.equal(one("User"), name, "a dedicated user");
      for (const [k, v] of [["NoNewPrivileges", "yes"], ["ProtectSystem", "strict"], ["ProtectHome", "yes"], ["PrivateTmp", "yes"],
        ["CapabilityBoundingSet", ""], ["AmbientCapabilities", ""], ["SystemCallFilter", "@system-service"], ["RestrictNamespaces", "yes"]] as const) {
        assert.equal(one(k), v, `${k}=${v}`);
      }
      assert.deepEqual(one("RestrictAddressFamilies")?.split(/\s+/).sort(), ["AF_INET", "AF_INET6", "AF_UNIX"]);
      assert.ok((u.get("Service.EnvironmentFile") ?? []).length > 0, "EnvironmentFile");
      const state = one("StateDirectory");
      if (state) assert.deepEqual(u.get("Service.ReadWritePaths"), [`/var/lib/${state}`], "writes its state directory only");
      else assert.equal(u.get("Service.ReadWritePaths"), undefined, "a stateless service writes nothing");
      const exec = one("ExecStart")!.split(/\s+/);
      if (exec[0] === RELEASE_NODE) assert.ok(existsSync(join(repoRoot, exec.at(-1)!)), `entry point ${exec.at(-1)} exists in the release`);
      assert.equal(u.get("Install.WantedBy")?.[0], "multi-user.target");
    });
  }

  test("systemd-analyze verify accepts every unit, and refuses a broken one", () => {
    const bin = analyzer();
    const tmp = mkdtempSync(join(tmpdir(), "taj-units-"));
    try {
      const verify = (files: string[]) => spawnSync(bin, ["verify", ...files], { encoding: "utf8" });
      const copies = units.map((unit) => {
        const file = join(tmp, unit);
        writeFileSync(file, readFileSync(join(dir, unit), "utf8").replaceAll(RELEASE_NODE, process.execPath));
        return file;
      });
      const ok = verify(copies);
      // verify exits 0 on unknown keys or bad values (it only warns): any output is a failure.
      assert.equal(`${ok.stdout}${ok.stderr}`.trim(), "", "no warning");
      assert.equal(ok.status, 0);
      writeFileSync(copies[0]!, readFileSync(copies[0]!, "utf8").replace("ProtectSystem=strict", "ProtectSystem=bogus"));
      assert.match(verify([copies[0]!]).stderr, /protect system/i);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
