import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { ensureServerBinaries, isRecentNats, parseNatsVersion } from "@taj/devcluster";

test("nats-server versions: Debian 12's 2.9.10 is refused, 2.10 and later accepted", () => {
  assert.deepEqual(parseNatsVersion("nats-server: v2.10.27\n"), [2, 10, 27]);
  assert.equal(parseNatsVersion("command not found"), undefined);
  assert.equal(isRecentNats([2, 9, 10]), false);
  assert.equal(isRecentNats([2, 10, 0]), true);
  assert.equal(isRecentNats([2, 11, 3]), true);
  assert.equal(isRecentNats([3, 0, 0]), true);
  assert.equal(isRecentNats([1, 12, 0]), false);
  assert.equal(isRecentNats(undefined), false);
});

test("the nats-server the clusters start is one that keeps replicas consistent (>= 2.10)", () => {
  const { natsServer } = ensureServerBinaries();
  const out = spawnSync(natsServer, ["--version"], { encoding: "utf8" }).stdout;
  assert.ok(isRecentNats(parseNatsVersion(out)), out);
});
