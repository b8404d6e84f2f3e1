import { test } from "node:test";
import assert from "node:assert/strict";
import { PORT_SPAN, labelledPorts, portLayout, splitPartitions } from "@taj/devcluster";

test("the port layout never reuses a port and stays inside its span", () => {
  const layout = portLayout(20000, ["a", "b"], 25, 10);
  const ports = labelledPorts(layout).map((p) => p.port);
  assert.equal(new Set(ports).size, ports.length, "no port used twice");
  assert.ok(ports.every((p) => p >= 20000 && p < 20000 + PORT_SPAN));
  // 3 etcd x 2 + 3 nats x 3 + (2 gateways + 2 coordinators + 10 extractors + 50 shards) x 2
  assert.equal(ports.length, 6 + 9 + (2 + 2 + 10 + 50) * 2);
  assert.deepEqual(layout.gateway, layout.gateways.a);
});

test("clusters with base ports PORT_SPAN apart do not overlap", () => {
  const a = new Set(labelledPorts(portLayout(20000, ["a", "b"], 2, 2)).map((p) => p.port));
  const b = labelledPorts(portLayout(20000 + PORT_SPAN, ["a", "b"], 2, 2)).map((p) => p.port);
  assert.ok(b.every((p) => !a.has(p)));
});

test("the layout refuses what it cannot place", () => {
  assert.throws(() => portLayout(20000, ["a", "b"], 26, 2), /shards/);
  assert.throws(() => portLayout(20000, ["a", "w"], 2, 2), /witness/);
  assert.throws(() => portLayout(20000, ["a"], 2, 11), /extractors/);
  assert.throws(() => portLayout(65400, ["a"], 2, 2), /basePort/);
});

test("partitions are split evenly, contiguously and completely", () => {
  assert.deepEqual(splitPartitions(16, 2), [[0, 1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 11, 12, 13, 14, 15]]);
  const three = splitPartitions(16, 3);
  assert.deepEqual(three.flat(), Array.from({ length: 16 }, (_, i) => i));
  const sizes = three.map((p) => p.length);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `uneven split ${sizes.join(",")}`);
});
