import { test } from "node:test";
import assert from "node:assert/strict";
import { PartitionState } from "../src/partition-state.ts";

test("partition state: snapshot start, a new partition catches up on its own, then joins; skips, loaded", () => {
  const s = new PartitionState();
  // Snapshot covers 0 and 1 through 100; the log ends at 150.
  s.assign([0, 1], 150, new Map([[0, 100], [1, 100]]));
  assert.deepEqual(s.catching(), [0, 1]);
  assert.equal(s.join([0, 1]), 101);
  assert.deepEqual(s.loaded(), []);
  assert.equal(s.shouldApply(0, 100), false);
  assert.equal(s.shouldApply(0, 101), true);
  s.markApplied(0, 120);
  s.advance(150);
  assert.deepEqual(s.loaded(), [0, 1]);
  assert.equal(s.appliedSequence(), 150);

  // Partition 2 arrives: it is not read by the main consumer, whose position says nothing about it.
  const grown = s.assign([0, 1, 2], 160);
  assert.deepEqual(grown.added, [2]);
  assert.deepEqual(s.catching(), [2]);
  assert.deepEqual(s.joined(), [0, 1]);
  assert.equal(s.appliedThrough(2), 0);
  assert.equal(s.lowestMark([2]), 0);
  assert.equal(s.shouldApply(2, 5), true);
  s.markApplied(2, 5);
  assert.equal(s.shouldApply(2, 5), false);
  s.advance(170); // the main consumer goes on meanwhile
  assert.equal(s.appliedThrough(2), 5);
  assert.deepEqual(s.loaded(), [0, 1]);
  s.advanceCatching([2], 159);
  assert.deepEqual(s.loaded(), [0, 1]);
  s.advanceCatching([2], 160);
  assert.deepEqual(s.loaded(), [0, 1, 2]);
  // Joining restarts the main consumer after the lowest mark: 2's, behind the main position.
  assert.equal(s.join([2]), 161);
  assert.equal(s.shouldApply(0, 165), false, "0 already has 165 (the main consumer delivered it)");
  assert.equal(s.shouldApply(2, 165), true);
  s.advance(170);
  assert.deepEqual(s.sequences(), { 0: 170, 1: 170, 2: 170 });

  // Dropping a partition needs no rewind; an unowned partition is never applied.
  const shrunk = s.assign([1, 2], 170);
  assert.deepEqual(shrunk.removed, [0]);
  assert.deepEqual(s.joined(), [1, 2]);
  assert.equal(s.join([]), 171);
  assert.equal(s.shouldApply(0, 171), false);
  assert.equal(s.isLoaded(0), false);
});

test("partition state: a catching-up partition ahead of the main consumer; advancing others' marks leaves joined ones alone", () => {
  const s = new PartitionState();
  s.assign([0], 10);
  s.join([0]);
  s.advance(10);
  s.assign([0, 3], 50);
  s.advanceCatching([3, 0], 50);
  assert.equal(s.appliedThrough(0), 10, "advanceCatching moves catching partitions only");
  assert.equal(s.appliedThrough(3), 50);
  // The main consumer is behind: it restarts after its own position, 3 skips what it has.
  assert.equal(s.join([3]), 11);
  assert.equal(s.shouldApply(3, 40), false);
  assert.equal(s.shouldApply(3, 51), true);
});

test("partition state: reaching the head loads partitions whose target message was superseded", () => {
  const s = new PartitionState();
  s.assign([3], 50);
  s.join([3]);
  s.advance(40);
  assert.equal(s.isLoaded(3), false);
  s.reachedHead();
  assert.equal(s.isLoaded(3), true);
});

test("partition state: reaching the main consumer's head does not load a partition still catching up", () => {
  const s = new PartitionState();
  s.assign([1], 10);
  s.join([1]);
  s.assign([1, 2], 20);
  s.reachedHead();
  assert.deepEqual(s.loaded(), [1]);
});
