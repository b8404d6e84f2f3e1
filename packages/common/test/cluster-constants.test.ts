import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_PARTITION_COUNT, MAX_PARTITION_COUNT, parsePartitionCount } from "@taj/common";

test("partition count from etcd: absent is the default; only whole counts in range are accepted", () => {
  assert.equal(parsePartitionCount(null), DEFAULT_PARTITION_COUNT);
  assert.equal(parsePartitionCount(undefined), DEFAULT_PARTITION_COUNT);
  assert.equal(parsePartitionCount(" 8\n"), 8);
  assert.equal(parsePartitionCount(String(MAX_PARTITION_COUNT)), MAX_PARTITION_COUNT);
  for (const bad of ["", "0", "-4", "2.5", "abc", String(MAX_PARTITION_COUNT + 1)]) assert.equal(parsePartitionCount(bad), undefined, JSON.stringify(bad));
});
