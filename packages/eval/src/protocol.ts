import { cosine } from "@taj/common";
import { rankOfMate, type MatedOutcome, type NonMatedTop } from "./metrics.ts";

/** One image after extraction: a template, or why there is none. */
export interface Sample {
  identity: string;
  file: string;
  /** Unit length; null when extraction failed. */
  template: Float32Array | null;
}

export interface ProtocolScores {
  /** Identities with an enrolled template, in gallery order. */
  gallery: string[];
  /** Identities whose enrolment image gave no template. */
  galleryFailures: string[];
  /** The probes, in the order of `mated` and `nonMated`. */
  probes: { identity: string; file: string }[];
  mated: MatedOutcome[];
  nonMated: NonMatedTop[];
  /** 1:1 scores over every pair of templates. */
  genuine: number[];
  impostor: number[];
}


/**
 * The evaluation protocol. Per identity (samples in file-name order), the first image is enrolled
 * and every other one is a probe. Each probe makes:
 *  - a mated search against the whole gallery (a miss if it gave no template or its identity
 *    failed to enrol), and
 *  - a non-mated search against the gallery without its own identity (leave-one-identity-out),
 *    whose best score is what a false positive would be made of; no template = no candidate.
 * 1:1 pairs: every two templates, genuine when they share an identity.
 */
export function scoreProtocol(samples: readonly Sample[]): ProtocolScores {
  const byIdentity = new Map<string, Sample[]>();
  for (const s of samples) {
    const list = byIdentity.get(s.identity) ?? [];
    list.push(s);
    byIdentity.set(s.identity, list);
  }
  const galleryIds: string[] = [];
  const galleryTemplates: Float32Array[] = [];
  const galleryFailures: string[] = [];
  const probes: Sample[] = [];
  for (const [identity, list] of byIdentity) {
    const [enrol, ...rest] = [...list].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
    if (enrol === undefined) continue;
    if (enrol.template === null) galleryFailures.push(identity);
    else {
      galleryIds.push(identity);
      galleryTemplates.push(enrol.template);
    }
    probes.push(...rest);
  }

  const mated: MatedOutcome[] = [];
  const nonMated: NonMatedTop[] = [];
  for (const probe of probes) {
    const template = probe.template;
    if (template === null) {
      mated.push(null);
      nonMated.push(null);
      continue;
    }
    const scores = galleryTemplates.map((g) => cosine(template, g));
    const mateIndex = galleryIds.indexOf(probe.identity);
    mated.push(mateIndex < 0 ? null : rankOfMate(scores, mateIndex));
    let top: NonMatedTop = null;
    for (const [i, s] of scores.entries()) if (i !== mateIndex && (top === null || s > top)) top = s;
    nonMated.push(top);
  }

  const genuine: number[] = [];
  const impostor: number[] = [];
  const extracted = samples.filter((s): s is Sample & { template: Float32Array } => s.template !== null);
  for (let i = 0; i < extracted.length; i++) {
    for (let j = i + 1; j < extracted.length; j++) {
      const a = extracted[i]!, b = extracted[j]!;
      (a.identity === b.identity ? genuine : impostor).push(cosine(a.template, b.template));
    }
  }
  return {
    gallery: galleryIds,
    galleryFailures,
    probes: probes.map((p) => ({ identity: p.identity, file: p.file })),
    mated,
    nonMated,
    genuine,
    impostor,
  };
}
