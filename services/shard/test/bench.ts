/**
 * Measures the index worker at a few thousand templates (not a test; run by hand):
 *   node --import tsx services/shard/test/bench.ts [templates]
 */
import { IndexClient } from "../src/index/client.ts";
import { quantize } from "../src/index/quantize.ts";
import type { ChangeOp } from "../src/index/store.ts";
import { perturb, prng, unitVector } from "./helpers.ts";

const n = Number(process.argv[2] ?? 5000);
const rand = prng(99);
const vectors = Array.from({ length: n }, () => unitVector(rand));
const client = new IndexClient({ hnsw: { connectivity: 16, expansionAdd: 128, expansionSearch: 64, threads: 0 }, graphModalities: ["face"] });
await client.counts();

let t = performance.now();
for (let i = 0; i < n; i += 256) {
  const ops: ChangeOp[] = [];
  for (let j = i; j < Math.min(n, i + 256); j++) ops.push({ modality: "face", partition: 0, id: `id-${j}`, vector: quantize(vectors[j]!) });
  await client.apply(ops);
}
const addSeconds = (performance.now() - t) / 1000;
console.log(`add: ${n} templates in ${addSeconds.toFixed(2)} s = ${Math.round(n / addSeconds)}/s (batches of 256, worker round trips included)`);

const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
for (const exhaustive of [false, true]) {
  const times: number[] = [];
  let top1 = 0;
  for (let i = 0; i < 300; i++) {
    const target = Math.floor(rand() * n);
    const probe = quantize(perturb(rand, vectors[target]!, 0.3));
    t = performance.now();
    const [r] = await client.search("face", [0], probe, 10, exhaustive);
    times.push(performance.now() - t);
    if (r!.hits[0]?.id === `id-${target}`) top1++;
  }
  console.log(`${exhaustive ? "exhaustive " : "approximate"} k=10 over ${n}: p50 ${pct(times, 0.5).toFixed(3)} ms, p99 ${pct(times, 0.99).toFixed(3)} ms, top-1 ${top1}/300`);
}
await client.close();
