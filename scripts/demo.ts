// The demo the README's first command runs against a fresh local cluster: enrol every face of
// the six sample photos under made-up technical ids, then search with a re-rendered face.
import type { Metadata } from "@grpc/grpc-js";
import { MatchingService } from "@taj/proto";
import { createClient, errorCodeName } from "@taj/common";
import { withCallMetadata } from "@taj/devcluster";
import { enrollAllFaces, loadSamplePhotos, renderFace, searchFace, type EnrolledFace } from "@taj/samples";

/** `credentials`: the caller's metadata (a bearer token with roles search + enroll), from the local cluster's issuer. */
export async function runDemo(gatewayAddress: string, credentials?: Metadata): Promise<boolean> {
  const plain = createClient(MatchingService, gatewayAddress);
  const client = credentials ? withCallMetadata(plain, credentials) : plain;
  try {
    const photos = await loadSamplePhotos();
    const enrolled: EnrolledFace[] = [];
    let serial = 0;
    const started = performance.now();
    for (const photo of photos) {
      const result = await enrollAllFaces(client, photo, () => `T${String(++serial).padStart(6, "0")}`);
      enrolled.push(...result.enrolled);
      const refused = result.refused.map((r) => errorCodeName(r.code)).join(", ");
      console.log(`enrolled ${result.enrolled.length} face(s) of ${photo.name}${refused ? `; refused: ${refused}` : ""}`);
    }
    const enrollSeconds = (performance.now() - started) / 1000;
    console.log(`\n${enrolled.length} faces enrolled in ${enrollSeconds.toFixed(1)} s\n`);

    const target = enrolled[Math.min(3, enrolled.length - 1)];
    if (!target) throw new Error("no face was enrolled");
    const [probe] = await renderFace(target.bytes, target.box, target.interOcularPx);
    if (!probe) throw new Error("could not render a probe");
    const t0 = performance.now();
    const answer = await searchFace(client, probe.bytes, probe.faceCentre, { caseRef: "DEMO-CASE-1", maxCandidates: 5, threshold: 0 });
    const searchMs = performance.now() - t0;
    console.log(`search with a ${probe.kind} rendering of ${target.id} (${target.photo}) took ${searchMs.toFixed(0)} ms, complete=${answer.complete}`);
    console.table(
      answer.candidates.map((c) => {
        const who = enrolled.find((e) => e.id === c.id);
        return { rank: c.rank, id: c.id, similarity: Number(c.similarity.toFixed(3)), photo: who?.photo ?? "?" };
      }),
    );
    const ok = answer.candidates[0]?.id === target.id && answer.complete;
    console.log(ok ? `rank 1 is ${target.id}: the demo worked` : `expected ${target.id} at rank 1`);
    return ok;
  } finally {
    client.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const address = process.argv[2] ?? "127.0.0.1:30040";
  runDemo(address).then(
    (ok) => process.exit(ok ? 0 : 1),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
