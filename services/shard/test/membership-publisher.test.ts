import { test } from "node:test";
import assert from "node:assert/strict";
import { createLogger, type Member } from "@taj/common";
import { MembershipPublisher } from "../src/membership-publisher.ts";

const logger = createLogger("test", "silent");

function publisher(owned: number[], loaded: number[]) {
  const state = { owned: () => owned, loaded: () => loaded };
  const published: Member[] = [];
  const p = new MembershipPublisher({
    state, logger, address: "127.0.0.1:1", startedAt: "2026-01-01T00:00:00.000Z",
    publish: async (m) => void published.push(m),
    progress: () => ({ delivered: 0 }),
  });
  return { p, published, set: (o: number[], l: number[]) => ((owned = o), (loaded = l)) };
}

test("membership publisher: nothing until every owned partition is loaded at start, then every change once", async () => {
  const x = publisher([0, 1, 2], [0, 1]);
  await x.p.refresh();
  assert.deepEqual(x.published, [], "a half-loaded replica is not routed to");
  x.set([0, 1, 2], [0, 1, 2]);
  await x.p.refresh();
  await x.p.refresh();
  assert.deepEqual(x.published, [{ address: "127.0.0.1:1", partitions: [0, 1, 2], startedAt: "2026-01-01T00:00:00.000Z" }]);
  // A partition added later is advertised once loaded; until then the entry keeps the others.
  x.set([0, 1, 2, 3], [0, 1, 2]);
  await x.p.refresh();
  assert.equal(x.published.length, 1);
  x.set([0, 1, 2, 3], [0, 1, 2, 3]);
  await x.p.refresh();
  assert.deepEqual((x.published as Member[]).map((m) => m.partitions), [[0, 1, 2], [0, 1, 2, 3]]);
});

test("membership publisher: partitions being handed over leave the entry while still loaded, until settled", async () => {
  const x = publisher([0, 1], [0, 1]);
  await x.p.refresh();
  x.p.withdraw([0]);
  await x.p.refresh();
  assert.deepEqual(x.published.map((m) => m.partitions), [[0, 1], [1]]);
  // The assignment changed back before the drop: settling advertises 0 again.
  x.p.settle();
  await x.p.refresh();
  assert.deepEqual(x.published.map((m) => m.partitions), [[0, 1], [1], [0, 1]]);
});

test("membership publisher: a shard with no partitions registers with an empty list", async () => {
  const x = publisher([], []);
  await x.p.refresh();
  assert.deepEqual(x.published.map((m) => m.partitions), [[]]);
});
