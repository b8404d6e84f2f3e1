import { test } from "node:test";
import assert from "node:assert/strict";
import { PartitionState } from "../src/partition-state.ts";

test("partition state: snapshot start, rewind for a new partition, skips, loaded", () => {
  const s = new PartitionState();
  // Snapshot covers 0 and 1 through 100; the log ends at 150.
  const first = s.assign([0, 1], 150, new Map([[0, 100], [1, 100]]));
  assert.equal(first.restartAt, 101);
  assert.deepEqual(s.loaded(), []);
  assert.equal(s.shouldApply(0, 100), false);
  assert.equal(s.shouldApply(0, 101), true);
  s.markApplied(0, 120);
  s.advance(150);
  assert.deepEqual(s.loaded(), [0, 1]);
  assert.equal(s.appliedSequence(), 150);

  // Partition 2 arrives: the consumer goes back to the start, the others skip what they have.
  const grown = s.assign([0, 1, 2], 160);
  assert.deepEqual(grown.added, [2]);
  assert.equal(grown.restartAt, 1);
  assert.deepEqual(s.loaded(), [0, 1]);
  assert.equal(s.shouldApply(0, 149), false);
  assert.equal(s.shouldApply(2, 5), true);
  s.advance(159);
  assert.deepEqual(s.loaded(), [0, 1]);
  s.advance(160);
  assert.deepEqual(s.loaded(), [0, 1, 2]);
  assert.deepEqual(s.sequences(), { 0: 160, 1: 160, 2: 160 });

  // Dropping a partition needs no rewind; an unowned partition is never applied.
  const shrunk = s.assign([1, 2], 170);
  assert.deepEqual(shrunk.removed, [0]);
  assert.equal(shrunk.restartAt, undefined);
  assert.equal(s.shouldApply(0, 171), false);
  assert.equal(s.isLoaded(0), false);
});

test("partition state: reaching the head loads partitions whose target message was superseded", () => {
  const s = new PartitionState();
  s.assign([3], 50);
  s.advance(40);
  assert.equal(s.isLoaded(3), false);
  s.reachedHead();
  assert.equal(s.isLoaded(3), true);
});
