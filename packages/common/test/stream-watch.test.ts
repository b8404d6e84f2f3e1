// StreamWatch's verdicts, with a stand-in for the JetStream manager (the real server is in the
// gateway's and the shard's stream tests).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { JetStreamManager, StreamConfig, StreamInfo } from "nats";
import { StreamWatch, createLogger, streamConfigOf, streamDifferences, templateStreamSpec } from "@taj/common";

const spec = templateStreamSpec({ replicas: 3 });
const good = streamConfigOf(spec) as StreamConfig;

/** What info() answers next: a config, "missing" (stream not found), or "down" (timeout). */
function fakeJsm(answer: () => Partial<StreamConfig> | "missing" | "down", calls: { n: number }): JetStreamManager {
  const info = async () => {
    calls.n++;
    const a = answer();
    if (a === "missing") throw new Error("stream not found");
    if (a === "down") throw new Error("TIMEOUT");
    return { config: a } as StreamInfo;
  };
  return { streams: { info } } as unknown as JetStreamManager;
}

test("streamDifferences names each setting that differs, and accepts a longer duplicate window", () => {
  assert.deepEqual(streamDifferences(spec, good), []);
  assert.deepEqual(streamDifferences(spec, { ...good, duplicate_window: good.duplicate_window * 2 }), []);
  const problems = streamDifferences(spec, { ...good, num_replicas: 1, max_msgs_per_subject: 1, subjects: ["taj.tpl.face.>"] });
  assert.equal(problems.length, 3);
  assert.match(problems.join("\n"), /subjects is \[taj\.tpl\.face\.>\], expected \[taj\.tpl\.>\]/);
  assert.match(problems.join("\n"), /max_msgs_per_subject is 1, expected 2/);
  assert.match(problems.join("\n"), /num_replicas is 1, expected 3/);
});

test("verdicts: missing -> NOT_SERVING, fixed -> serving, unreadable keeps the verdict, changed -> NOT_SERVING", async () => {
  let next: Partial<StreamConfig> | "missing" | "down" = "missing";
  const changes: boolean[] = [];
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = createLogger("t", "info", { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
  const calls = { n: 0 };
  const watch = await StreamWatch.start(fakeJsm(() => next, calls), [spec], { intervalMs: 20, logger, onChange: (ok) => changes.push(ok) });
  // The watch's timer does not hold a process open (a service's server does): this test's does.
  const keepAlive = setInterval(() => undefined, 1_000);
  /** Until the watch has finished `n` more checks (each reads the one stream once, then decides). */
  const checks = async (n: number) => {
    const until = calls.n + n + 1;
    while (calls.n < until) await new Promise((r) => setTimeout(r, 5));
  };
  try {
    assert.equal(watch.ok, false);
    assert.match(watch.problems.join(), /TAJ_TEMPLATES does not exist/);
    const settle = async (want: boolean) => {
      for (let i = 0; i < 500 && watch.ok !== want; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(watch.ok, want);
    };
    next = "down";
    await checks(2);
    assert.equal(watch.ok, false, "unreadable before any verdict: still not serving");
    next = good;
    await watch.ready();
    next = "down";
    await checks(3);
    assert.equal(watch.ok, true, "a NATS blip says nothing about the settings");
    next = { ...good, max_msgs_per_subject: 1 };
    await settle(false);
    assert.deepEqual(changes, [false, true, false]);
    const errors = lines.filter((l) => l.level === 50).map((l) => l.msg);
    assert.equal(errors.filter((m) => /max_msgs_per_subject is 1/.test(m)).length, 1, "each distinct problem logged once");
    assert.equal(lines.filter((l) => l.level === 40).length, 1, "the blip logged once");
  } finally {
    watch.stop();
    clearInterval(keepAlive);
  }
});
