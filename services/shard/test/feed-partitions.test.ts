import { test, after } from "node:test";
import assert from "node:assert/strict";
import { connect, type JetStreamManager } from "nats";
import { create } from "@bufbuild/protobuf";
import { Modality, TemplateEventSchema } from "@taj/proto";
import { TEMPLATE_STREAM, createLogger, encodeTemplateEvent, partitionSubjectFilters, templateSubject } from "@taj/common";
import { Feed } from "../src/feed.ts";
import { JetStreamLogSource } from "../src/log-source.ts";
import { PartitionState } from "../src/partition-state.ts";
import { Serial } from "../src/serial.ts";
import type { ChangeOp } from "../src/index/store.ts";
import { prng, unitVector } from "./helpers.ts";
import { admin, startNats, waitFor } from "./servers.ts";

// Ports of the shard helper's range (17200-17299).
const NATS_PORT = 17260;
const PARTITIONS = 4;
const CONSUMER = "shard-t-feed";
const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

/** The index side: what was applied, per partition and id (the Feed's only use of the index). */
class RecordingIndex {
  readonly content = new Map<string, Int8Array>();
  async apply(ops: ChangeOp[]) {
    for (const op of ops) {
      const key = `${op.modality}/${op.partition}/${op.id}`;
      if (op.vector) this.content.set(key, op.vector);
      else this.content.delete(key);
    }
    return { rejected: [], removed: 0 };
  }
  partitions(): number[] {
    return [...new Set([...this.content.keys()].map((k) => Number(k.split("/")[1])))].sort();
  }
}

async function messagesIn(jsm: JetStreamManager, partition: number): Promise<number> {
  const info = await jsm.streams.info(TEMPLATE_STREAM, { subjects_filter: partitionSubjectFilters([partition])[0]! });
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

test("feed: the consumer reads the owned partitions' subjects only; adding one delivers exactly its messages", async () => {
  const nats = await startNats(NATS_PORT);
  cleanup.push(() => nats.dispose());
  const nc = await connect({ servers: nats.url, ...admin.nats });
  cleanup.push(() => nc.close());
  const jsm = await nc.jetstreamManager();
  const js = nc.jetstream();
  const rand = prng(7);
  const publish = async (modality: Modality, partition: number, id: string, deleted = false) => {
    const event = deleted
      ? create(TemplateEventSchema, { event: { case: "deleted", value: { id, modality } } })
      : create(TemplateEventSchema, { event: { case: "enrolled", value: { id, modality, template: [...unitVector(rand, 16)] } } });
    return (await js.publish(templateSubject(modality, partition, id), encodeTemplateEvent(event))).seq;
  };
  let head = 0;
  for (let i = 0; i < 200; i++) head = await publish(i % 5 === 0 ? Modality.TATTOO : Modality.FACE, i % PARTITIONS, `id-${i}`);
  for (let i = 0; i < 200; i += 7) head = await publish(i % 5 === 0 ? Modality.TATTOO : Modality.FACE, i % PARTITIONS, `id-${i}`, true);

  const index = new RecordingIndex();
  const state = new PartitionState();
  const serial = new Serial();
  const feed = new Feed(new JetStreamLogSource(nc, jsm, js), index, state, serial, {
    consumerName: CONSUMER, batchSize: 32, logger: createLogger("test", "silent"), onBatch: async () => {},
  });
  cleanup.push(() => serial.run(() => feed.stop()));
  const expected = new Map<string, boolean>();
  // What the log says each partition holds: the last event per subject.
  const expectedIn = (partitions: number[]) =>
    [...expected].filter(([k, live]) => live && partitions.includes(Number(k.split("/")[1]))).map(([k]) => k).sort();
  for (let i = 0; i < 200; i++) expected.set(`${i % 5 === 0 ? "tattoo" : "face"}/${i % PARTITIONS}/id-${i}`, i % 7 !== 0);
  const settle = (partitions: number[], what: string) =>
    waitFor(what, async () => {
      await serial.run(async () => feed.checkHead((await jsm.streams.info(TEMPLATE_STREAM)).state.last_seq));
      return partitions.every((p) => state.isLoaded(p)) && state.catching().length === 0 ? true : undefined;
    });

  await serial.run(() => feed.assign([0], head));
  await settle([0], "partition 0 loaded");
  assert.equal(feed.delivered, await messagesIn(jsm, 0), "an empty shard given one partition reads that partition's messages only");
  assert.deepEqual([...index.content.keys()].sort(), expectedIn([0]));
  assert.deepEqual((await jsm.consumers.info(TEMPLATE_STREAM, CONSUMER)).config.filter_subjects, ["taj.tpl.*.0.>"]);

  // Adding partition 2: a catch-up pass over its subjects, then one consumer over both, restarted
  // after the lowest mark: its own last delivery (0's last message, just before "last-2", the
  // stream's last), so the only message read twice is "last-2" (skipped the second time).
  await publish(Modality.FACE, 2, "last-2");
  expected.set("face/2/last-2", true);
  await settle([0], "partition 0 current");
  const before = feed.delivered;
  head = (await jsm.streams.info(TEMPLATE_STREAM)).state.last_seq;
  await serial.run(() => feed.assign([0, 2], head));
  await settle([0, 2], "partition 2 caught up");
  assert.equal(feed.delivered - before, (await messagesIn(jsm, 2)) + 1, "adding a partition delivers its messages, none of the others'");
  assert.deepEqual([...index.content.keys()].sort(), expectedIn([0, 2]));
  assert.deepEqual((await jsm.consumers.info(TEMPLATE_STREAM, CONSUMER)).config.filter_subjects, ["taj.tpl.*.0.>", "taj.tpl.*.2.>"]);
  await assert.rejects(jsm.consumers.info(TEMPLATE_STREAM, `${CONSUMER}-catchup`), /consumer not found/, "the catch-up consumer is removed once done");

  // New events after the join reach both partitions through the main consumer; others are not delivered.
  const afterJoin = feed.delivered;
  await publish(Modality.FACE, 1, "late-1");
  await publish(Modality.FACE, 3, "late-3");
  await publish(Modality.FACE, 2, "late-2");
  await publish(Modality.MARK, 0, "late-0");
  await waitFor("late events applied", async () => (index.content.has("face/2/late-2") && index.content.has("mark/0/late-0") ? true : undefined));
  assert.equal(feed.delivered - afterJoin, 2);
  assert.ok(!index.content.has("face/1/late-1") && !index.content.has("face/3/late-3"));

  // Dropping partition 0 narrows the filter without replaying anything.
  const beforeDrop = feed.delivered;
  await serial.run(async () => feed.assign([2], (await jsm.streams.info(TEMPLATE_STREAM)).state.last_seq));
  assert.deepEqual((await jsm.consumers.info(TEMPLATE_STREAM, CONSUMER)).config.filter_subjects, ["taj.tpl.*.2.>"]);
  await publish(Modality.FACE, 0, "after-drop-0");
  await publish(Modality.FACE, 2, "after-drop-2");
  await waitFor("partition 2 event applied", async () => (index.content.has("face/2/after-drop-2") ? true : undefined));
  assert.equal(feed.delivered - beforeDrop, 1);
  assert.ok(!index.content.has("face/0/after-drop-0"));
  assert.equal(state.isLoaded(2), true);
});
