// What a client that knows the servers only by reflection sees of a real local cluster: each server
// lists its own services only, and the descriptors it returns load into a strict registry
// (protobuf-es's createFileRegistry refuses a missing import or a malformed descriptor) and are
// enough to call the public and an internal API.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HEALTH_SERVICE, REFLECTION_SERVICES } from "@taj/common";
import { CoordinatorService, ExtractorService, MatchingService, ShardService } from "@taj/proto";
import { reflectionClient, startLocalCluster, type LocalCluster } from "@taj/devcluster";

let cluster: LocalCluster;
const clusterDir = mkdtempSync(join(tmpdir(), "taj-reflection-test-"));

before(async () => {
  cluster = await startLocalCluster({ dir: clusterDir, basePort: 27400, shardsPerSite: 1, extractors: 1, partitionCount: 4, logLevel: "warn" });
});

after(async () => {
  await cluster?.stop();
  rmSync(clusterDir, { recursive: true, force: true });
});

test("each server lists only the services it serves, with health and reflection", async () => {
  const servers = {
    gateway: [cluster.addresses.gateway, MatchingService.typeName],
    coordinator: [cluster.addresses.coordinators["a"]!, CoordinatorService.typeName],
    extractor: [cluster.addresses.extractors[0]!, ExtractorService.typeName],
    shard: [cluster.addresses.shards["a1"]!, ShardService.typeName],
  } as const;
  for (const [name, [address, service]] of Object.entries(servers)) {
    for (const version of ["v1", "v1alpha"] as const) {
      const client = reflectionClient(address, cluster.credentials(), version);
      try {
        const listed = await client.listServices();
        assert.deepEqual(listed.sort(), [service, HEALTH_SERVICE, ...REFLECTION_SERVICES].sort(), `${name} (${version})`);
      } finally {
        client.close();
      }
    }
  }
});

test("the gateway's descriptors load into a strict registry and Stats is called through it", async () => {
  const client = reflectionClient(cluster.addresses.gateway, cluster.credentials());
  try {
    const registry = await client.registryFor(MatchingService.typeName);
    assert.ok(registry.getFile("google/protobuf/timestamp.proto"), "Timestamp's file came with matching.proto");
    const stats = (await client.call(registry, MatchingService.typeName, "Stats")) as { partitionCount?: number; shards?: { site?: string }[] };
    assert.equal(stats.partitionCount, 4);
    assert.deepEqual(stats.shards?.map((s) => s.site).sort(), ["a", "b"]);
  } finally {
    client.close();
  }
});

test("a shard's descriptors load into a strict registry and ShardStatus is called through it", async () => {
  const client = reflectionClient(cluster.addresses.shards["a1"]!, cluster.credentials());
  try {
    const registry = await client.registryFor(`${ShardService.typeName}.ShardStatus`);
    const status = (await client.call(registry, ShardService.typeName, "ShardStatus")) as { site?: string; partitions?: number[] };
    assert.equal(status.site, "a");
    assert.deepEqual(status.partitions, [0, 1, 2, 3]);
  } finally {
    client.close();
  }
});
