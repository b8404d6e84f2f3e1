import {
  cmc, detCurve, fnirAtFpir, histogram, summarise, tarAtFar,
  type DetPoint, type FnirAtFpir, type Histogram, type Summary, type TarAtFar,
} from "./metrics.ts";
import type { ProtocolScores } from "./protocol.ts";

export const FALSE_POSITIVE_RATES = [0.1, 0.01, 0.001] as const;
export const HISTOGRAM_BIN = 0.02;

export interface ImageRecord {
  identity: string;
  file: string;
  role: "enrolled" | "probe";
  /** Error code name when no template came out (e.g. NO_FACE). */
  failure?: string;
  /** Faces found; when more than one, the most confident (then largest) was used and its box is in chosenBox. */
  facesFound?: number;
  chosenBox?: { x: number; y: number; width: number; height: number };
  /** Probes: where the mate came in the mated search (null = missed), and the best non-mated score. */
  mateRank?: number | null;
  mateScore?: number | null;
  nonMatedTop?: number | null;
}

export interface EvalReport {
  createdAt: string;
  folder: string;
  modality: string;
  source: string;
  modelIds: string[];
  seconds: number;
  dataset: { identities: number; images: number; skippedFiles: string[] };
  /** Every image is an enrolment attempt; the enrolled (first) images alone are also counted. */
  failureToEnrol: {
    attempted: number;
    failed: number;
    rate: number;
    byCode: Record<string, number>;
    enrolmentImages: { attempted: number; failed: number; rate: number };
  };
  imagesWithSeveralFaces: number;
  identification: {
    galleryIdentities: number;
    matedSearches: number;
    nonMatedSearches: number;
    maxRank: number;
    cmc: { rank: number; rate: number }[];
    fnirAtFpir: FnirAtFpir[];
    det: { rank: number; points: DetPoint[] }[];
  };
  verification: {
    genuinePairs: number;
    impostorPairs: number;
    tarAtFar: TarAtFar[];
    genuine: Summary;
    impostor: Summary;
  };
  histograms: { genuine: Histogram; impostor: Histogram };
  images: ImageRecord[];
}

export interface ReportInput {
  folder: string;
  modality: string;
  source: string;
  modelIds: string[];
  seconds: number;
  skippedFiles: string[];
  identities: number;
  maxRank: number;
  images: ImageRecord[];
  scores: ProtocolScores;
}

export function buildReport(input: ReportInput): EvalReport {
  const { scores, maxRank } = input;
  const images = withSearchOutcomes(input.images, scores);
  const failed = images.filter((i) => i.failure !== undefined);
  const byCode: Record<string, number> = {};
  for (const i of failed) byCode[i.failure!] = (byCode[i.failure!] ?? 0) + 1;
  const enrolled = images.filter((i) => i.role === "enrolled");
  const enrolFailed = enrolled.filter((i) => i.failure !== undefined).length;
  const ranks = maxRank > 1 ? [1, maxRank] : [1];
  const [genuineHist, impostorHist] = histogram([scores.genuine, scores.impostor], HISTOGRAM_BIN);
  return {
    createdAt: new Date().toISOString(),
    folder: input.folder,
    modality: input.modality,
    source: input.source,
    modelIds: input.modelIds,
    seconds: input.seconds,
    dataset: { identities: input.identities, images: images.length, skippedFiles: input.skippedFiles },
    failureToEnrol: {
      attempted: images.length,
      failed: failed.length,
      rate: ratio(failed.length, images.length),
      byCode,
      enrolmentImages: { attempted: enrolled.length, failed: enrolFailed, rate: ratio(enrolFailed, enrolled.length) },
    },
    imagesWithSeveralFaces: images.filter((i) => (i.facesFound ?? 0) > 1).length,
    identification: {
      galleryIdentities: scores.gallery.length,
      matedSearches: scores.mated.length,
      nonMatedSearches: scores.nonMated.length,
      maxRank,
      cmc: cmc(scores.mated, maxRank).map((rate, i) => ({ rank: i + 1, rate })),
      fnirAtFpir: fnirAtFpir(scores.mated, scores.nonMated, FALSE_POSITIVE_RATES, ranks),
      det: ranks.map((rank) => ({ rank, points: detCurve(scores.mated, scores.nonMated, rank) })),
    },
    verification: {
      genuinePairs: scores.genuine.length,
      impostorPairs: scores.impostor.length,
      tarAtFar: tarAtFar(scores.genuine, scores.impostor, FALSE_POSITIVE_RATES),
      genuine: summarise(scores.genuine),
      impostor: summarise(scores.impostor),
    },
    histograms: { genuine: genuineHist!, impostor: impostorHist! },
    images,
  };
}

function withSearchOutcomes(images: readonly ImageRecord[], scores: ProtocolScores): ImageRecord[] {
  const key = (identity: string, file: string) => `${identity}/${file}`;
  const byProbe = new Map(scores.probes.map((p, i) => [key(p.identity, p.file), i]));
  return images.map((image) => {
    const i = byProbe.get(key(image.identity, image.file));
    if (i === undefined) return image;
    const mate = scores.mated[i] ?? null;
    return { ...image, mateRank: mate?.rank ?? null, mateScore: mate?.score ?? null, nonMatedTop: scores.nonMated[i] ?? null };
  });
}

function ratio(a: number, b: number): number {
  return b === 0 ? 0 : a / b;
}
