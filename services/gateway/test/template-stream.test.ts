import { test } from "node:test";
import assert from "node:assert/strict";
import { RetentionPolicy, StorageType } from "nats";
import { TEMPLATE_MSGS_PER_SUBJECT, TEMPLATE_STREAM, TEMPLATE_SUBJECT_ROOT, ensureTemplateStream } from "@taj/common";
import { startNats } from "./fixtures/nats.ts";

test("an existing template log kept one message per subject: it is moved to the limit the erasing writers need", async () => {
  await using nats = await startNats(19620);
  const jsm = await nats.nc.jetstreamManager();
  await jsm.streams.add({
    name: TEMPLATE_STREAM, subjects: [`${TEMPLATE_SUBJECT_ROOT}.>`], retention: RetentionPolicy.Limits,
    storage: StorageType.File, max_msgs_per_subject: 1, num_replicas: 1, allow_direct: true,
  });
  const js = nats.nc.jetstream();
  await js.publish(`${TEMPLATE_SUBJECT_ROOT}.face.0.kept`, new Uint8Array([1]));
  const info = await ensureTemplateStream(jsm, { replicas: 1 });
  assert.equal(info.config.max_msgs_per_subject, TEMPLATE_MSGS_PER_SUBJECT);
  assert.equal((await jsm.streams.info(TEMPLATE_STREAM)).config.max_msgs_per_subject, 2);
  assert.equal(info.state.messages, 1, "messages kept");
  assert.deepEqual(info.config.subjects, [`${TEMPLATE_SUBJECT_ROOT}.>`], "the rest of the config unchanged");
  const again = await ensureTemplateStream(jsm, { replicas: 1 });
  assert.equal(again.config.max_msgs_per_subject, 2);
});
