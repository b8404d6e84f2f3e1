// The generator: a list of entries, each a category with a count and a function that makes one
// case from the seeded generator. Bad tokens and certificates are entries of credentials.ts
// (with FuzzCase.metadata / FuzzCase.profile).
import type * as http2 from "node:http2";
import { gzipSync, deflateSync } from "node:zlib";
import type { MetadataValue, Profile } from "./client.ts";
import { grpcFrame } from "./client.ts";
import {
  ABSURD_BOXES, BAD_CASE_REFS, BAD_MAX_CANDIDATES, BAD_THRESHOLD_BITS, FIXED_BAD_IDS, INVALID_BOX_VALUES, INVALID_UTF8, randomBadId,
} from "./hostile-values.ts";
import { ACCEPTED, REFUSED, hugeSizes, mutate, withDeclaredSize, type Format } from "./images.ts";
import type { Random } from "./random.ts";
import { FACE, enrollBody, expectForBody, recordBody, searchBody, type Method, type Rpc } from "./requests.ts";
import { REQUEST_FIELDS, WireType, box, lenField, tag, varint, varintField } from "./wire.ts";

export interface FuzzCase {
  /** Row of the report table. */
  category: string;
  method: Rpc;
  /** The request message as sent: any bytes. */
  body: Buffer;
  /** The taj-error-code values that are a right answer ("OK" only where success is right). */
  expect: readonly string[];
  /** What the case is, for failure messages. */
  note: string;
  /** Extra call metadata (hostile headers, bad bearer tokens); replaces the profile's key of the same name. */
  metadata?: Record<string, MetadataValue>;
  /** A connection profile of client.ts (no credentials, client certificates); "default" when absent. */
  profile?: Profile;
  /** Sent over raw HTTP/2 with these headers and this body (frames included) instead of through grpc-js. */
  framing?: { headers: http2.OutgoingHttpHeaders; body: Buffer };
}

export interface GenContext {
  rng: Random;
  images: ReadonlyMap<Format, Buffer>;
  /** A photo with faces in it, for box cases that must reach the face matcher. */
  facePhoto: Buffer;
  maxImageBytes: number;
  /** A fresh valid id for an Enroll that must fail later than id validation. */
  freshId(): string;
}

export interface Generator {
  category: string;
  count: number;
  /** One case, or undefined to draw again (e.g. random bytes that happen to form a valid Delete). */
  make(ctx: GenContext, index: number): FuzzCase | undefined;
}

/** A call whose caller fails authentication: refused, or refused by the per-address limiter first. */
export const AUTH_FAILED: readonly string[] = ["UNAUTHENTICATED", "RATE_LIMITED"];
const IMAGE_CODES = ["IMAGE_CORRUPT", "IMAGE_UNSUPPORTED_FORMAT", "IMAGE_TOO_LARGE", "NO_FACE"];
const REFUSED_CODES = ["IMAGE_UNSUPPORTED_FORMAT", "IMAGE_CORRUPT", "IMAGE_TOO_LARGE"];
const tinyImage = (ctx: GenContext) => ctx.images.get("png")!;
const BAD_ID_FOR_DELETE = "not a valid id!";

function badId(ctx: GenContext, i: number): { id: string | Buffer; expect: string } {
  if (i < FIXED_BAD_IDS.length) return { id: FIXED_BAD_IDS[i]!, expect: "INVALID_ID" };
  if (ctx.rng.chance(0.05)) return { id: ctx.rng.pick(INVALID_UTF8), expect: "INVALID_ARGUMENT" };
  return { id: randomBadId(ctx.rng), expect: "INVALID_ID" };
}

const ids: Generator = {
  category: "bad ids",
  count: 1800,
  make(ctx, i) {
    const { id, expect } = badId(ctx, Math.floor(i / 3));
    const method = (["Enroll", "Delete", "Get"] as const)[i % 3]!;
    const body = method === "Enroll"
      ? enrollBody({ modality: FACE, id, image: tinyImage(ctx) })
      : recordBody(method === "Delete" && ctx.rng.chance(0.5) ? 0 : FACE, id);
    return { category: this.category, method, body, expect: [expect], note: `id ${JSON.stringify(id.toString()).slice(0, 40)}` };
  },
};

const BAD_MODALITIES: readonly bigint[] = [-1n, 4n, 5n, 99n, 2n ** 31n - 1n, -(2n ** 31n), 2n ** 32n + 7n, 2n ** 63n];

const modalities: Generator = {
  category: "bad modality / enum",
  count: 800,
  make(ctx, i) {
    const rng = ctx.rng;
    const modality = BAD_MODALITIES[i % BAD_MODALITIES.length]!;
    switch (i % 5) {
      case 0:
        return { category: this.category, method: "Enroll", body: enrollBody({ modality, id: ctx.freshId(), image: tinyImage(ctx) }), expect: ["UNSUPPORTED_MODALITY"], note: `modality ${modality}` };
      case 1:
        return { category: this.category, method: "Get", body: recordBody(modality, "FUZZ-GET-1"), expect: ["UNSUPPORTED_MODALITY"], note: `modality ${modality}` };
      case 2:
        // An invalid id too: a modality that reads as 0 means "every modality" for Delete.
        return { category: this.category, method: "Delete", body: recordBody(modality, BAD_ID_FOR_DELETE), expect: ["UNSUPPORTED_MODALITY", "INVALID_ID"], note: `modality ${modality}` };
      case 3: {
        // Search for UNSPECIFIED (no modality to search), or an enum value out of range.
        const m = rng.chance(0.3) ? 0n : modality;
        return { category: this.category, method: "Search", body: searchBody({ modality: m, image: tinyImage(ctx) }), expect: ["UNSUPPORTED_MODALITY"], note: `modality ${m}` };
      }
      default: {
        const mode = rng.pick([3n, 4n, 99n, -1n, 2n ** 31n - 1n]);
        return { category: this.category, method: "Search", body: searchBody({ modality: FACE, image: tinyImage(ctx), mode }), expect: ["INVALID_ARGUMENT"], note: `mode ${mode}` };
      }
    }
  },
};

const searchParams: Generator = {
  category: "search parameters out of range",
  count: 1400,
  make(ctx, i) {
    const rng = ctx.rng;
    const image = tinyImage(ctx);
    switch (i % 3) {
      case 0: {
        const bits = BAD_THRESHOLD_BITS[rng.int(0, BAD_THRESHOLD_BITS.length - 1)]!;
        return { category: this.category, method: "Search", body: searchBody({ modality: FACE, image, threshold: { bits } }), expect: ["INVALID_ARGUMENT"], note: `threshold bits 0x${bits.toString(16)}` };
      }
      case 1: {
        const n = rng.pick(BAD_MAX_CANDIDATES);
        return { category: this.category, method: "Search", body: searchBody({ modality: FACE, image, maxCandidates: n }), expect: ["INVALID_ARGUMENT"], note: `max_candidates ${n}` };
      }
      default: {
        const utf8 = rng.chance(0.1);
        const caseRef = utf8 ? rng.pick(INVALID_UTF8) : rng.pick(BAD_CASE_REFS);
        return { category: this.category, method: "Search", body: searchBody({ modality: FACE, image, caseRef }), expect: ["INVALID_ARGUMENT"], note: `case_ref ${JSON.stringify(caseRef.toString()).slice(0, 30)}` };
      }
    }
  },
};

const invalidBoxes: Generator = {
  category: "boxes: NaN, infinite, negative, empty",
  count: 900,
  make(ctx) {
    const rng = ctx.rng;
    const values: [number, number, number, number] = [rng.int(0, 50), rng.int(0, 50), rng.int(1, 50), rng.int(1, 50)];
    const bad = rng.int(1, 3);
    for (let k = 0; k < bad; k++) {
      const at = rng.int(0, 3);
      // Width and height must also be positive: zero is refused there.
      values[at] = at >= 2 && rng.chance(0.3) ? 0 : rng.pick(INVALID_BOX_VALUES);
    }
    const faceBox = box(values);
    const enrol = rng.chance(0.4);
    return enrol
      ? { category: this.category, method: "Enroll", body: enrollBody({ modality: FACE, id: ctx.freshId(), image: tinyImage(ctx), box: faceBox }), expect: ["INVALID_ARGUMENT"], note: `box ${values}` }
      : { category: this.category, method: "Search", body: searchBody({ modality: FACE, image: tinyImage(ctx), box: faceBox }), expect: ["INVALID_ARGUMENT"], note: `box ${values}` };
  },
};

const absurdBoxes: Generator = {
  category: "boxes: finite but absurd (face photo)",
  count: 90,
  make(ctx, i) {
    const values = ABSURD_BOXES[i % ABSURD_BOXES.length]!;
    const faceBox = box(values);
    // Enroll needs a fresh id to reach the matcher; the box matches no face, so nothing is stored.
    return i % 3 === 0
      ? { category: this.category, method: "Enroll", body: enrollBody({ modality: FACE, id: ctx.freshId(), image: ctx.facePhoto, box: faceBox }), expect: ["BOX_MATCHES_NO_FACE"], note: `box ${values}` }
      : { category: this.category, method: "Search", body: searchBody({ modality: FACE, image: ctx.facePhoto, box: faceBox, threshold: -1 }), expect: ["BOX_MATCHES_NO_FACE"], note: `box ${values}` };
  },
};

/** A valid-looking request of the method, as the base that a case then breaks. */
export function baseBody(ctx: GenContext, method: Method): Buffer {
  switch (method) {
    case "Enroll": return enrollBody({ modality: FACE, id: ctx.freshId(), image: tinyImage(ctx), box: box([1, 1, 20, 20]) });
    case "Search": return searchBody({ modality: FACE, image: tinyImage(ctx), threshold: 0.5, maxCandidates: 10n, mode: 1n });
    case "Delete": return recordBody(FACE, BAD_ID_FOR_DELETE);
    case "Get": return recordBody(FACE, "FUZZ-GET-2");
    case "Stats": return Buffer.alloc(0);
  }
}

/** A field with the given wire type and a payload of that type (random content). */
function fieldAs(rng: Random, field: number, wireType: number): Buffer {
  switch (wireType) {
    case WireType.VARINT: return varintField(field, BigInt(rng.int(0, 2 ** 31)) * BigInt(rng.int(1, 2 ** 20)));
    case WireType.I64: return Buffer.concat([tag(field, wireType), rng.bytes(8)]);
    case WireType.LEN: return lenField(field, rng.bytes(rng.int(0, 40)));
    case WireType.SGROUP: return Buffer.concat([tag(field, wireType), rng.chance(0.5) ? tag(field, WireType.EGROUP) : rng.bytes(rng.int(0, 6))]);
    case WireType.EGROUP: return tag(field, wireType);
    case WireType.I32: return Buffer.concat([tag(field, wireType), rng.bytes(4)]);
    default: return Buffer.concat([tag(field, wireType), rng.bytes(rng.int(0, 8))]); // 6, 7: no such wire type
  }
}

const wireTypes: Generator = {
  category: "wrong protobuf wire types / tags",
  count: 1500,
  make(ctx, i) {
    const rng = ctx.rng;
    const method = (["Enroll", "Search", "Delete", "Get", "Stats"] as const)[i % 5]!;
    const base = baseBody(ctx, method);
    const fields = REQUEST_FIELDS[method];
    let broken: Buffer;
    let note: string;
    const kind = rng.int(0, 9);
    if (kind < 6 && fields.length > 0) {
      const f = rng.pick(fields);
      let wt = rng.int(0, 7);
      if (wt === f.wireType) wt = (wt + 1) % 8;
      broken = fieldAs(rng, f.field, wt);
      note = `${f.name} as wire type ${wt}`;
    } else if (kind === 6) {
      broken = Buffer.concat([tag(0, rng.int(0, 7)), rng.bytes(rng.int(0, 4))]);
      note = "field number 0";
    } else if (kind === 7) {
      // A length that runs past the end of the message.
      const f = fields.length > 0 ? rng.pick(fields).field : rng.int(1, 20);
      broken = Buffer.concat([tag(f, WireType.LEN), varint(rng.pick([1000n, 2n ** 31n, 2n ** 32n + 1n, 2n ** 63n])), rng.bytes(rng.int(0, 16))]);
      note = "length past the end";
    } else if (kind === 8) {
      broken = Buffer.from([...tag(rng.int(1, 8), WireType.VARINT), ...new Array<number>(rng.int(10, 14)).fill(0xff), 0x01]);
      note = "overlong varint";
    } else {
      broken = fieldAs(rng, rng.pick([9, 15, 16, 1000, 2 ** 29 - 1]), rng.int(0, 7));
      note = "unknown field";
    }
    const at = rng.chance(0.5) ? 0 : base.length;
    const body = Buffer.concat([base.subarray(0, at), broken, base.subarray(at)]);
    const expect = expectForBody(method, body);
    return expect && { category: this.category, method, body, expect, note };
  },
};

const garbage: Generator = {
  category: "garbage bytes",
  count: 1200,
  make(ctx, i) {
    const rng = ctx.rng;
    const method = (["Enroll", "Search", "Delete", "Get", "Stats"] as const)[i % 5]!;
    const length = Math.floor(Math.exp(rng.next() * Math.log(4096)));
    const body = rng.bytes(length);
    const expect = expectForBody(method, body);
    return expect && { category: this.category, method, body, expect, note: `${length} random bytes` };
  },
};

const truncatedMessages: Generator = {
  category: "truncated request messages",
  count: 600,
  make(ctx, i) {
    const method = (["Enroll", "Search", "Delete", "Get"] as const)[i % 4]!;
    const base = baseBody(ctx, method);
    const body = Buffer.from(base.subarray(0, ctx.rng.int(1, base.length - 1)));
    const expect = expectForBody(method, body);
    return expect && { category: this.category, method, body, expect, note: `cut at ${body.length} of ${base.length}` };
  },
};

function imageCase(ctx: GenContext, category: string, image: Buffer, expect: readonly string[], note: string): FuzzCase {
  return ctx.rng.chance(0.3)
    ? { category, method: "Enroll", body: enrollBody({ modality: FACE, id: ctx.freshId(), image }), expect, note }
    : { category, method: "Search", body: searchBody({ modality: FACE, image }), expect, note };
}

function mutatedImages(format: Format, count: number): Generator {
  const accepted = ACCEPTED.includes(format);
  return {
    category: `${format}: truncated / bit-flipped / spliced`,
    count,
    make(ctx) {
      const { kind, bytes } = mutate(ctx.images.get(format)!, ctx.rng);
      return imageCase(ctx, this.category, bytes, accepted ? IMAGE_CODES : REFUSED_CODES, `${format} ${kind}`);
    },
  };
}

const intactImages: Generator = {
  category: "intact images (faceless, or a format refused)",
  count: 14,
  make(ctx, i) {
    const formats = [...ACCEPTED, ...REFUSED];
    const format = formats[i % formats.length]!;
    return imageCase(ctx, this.category, ctx.images.get(format)!, ACCEPTED.includes(format) ? ["NO_FACE"] : ["IMAGE_UNSUPPORTED_FORMAT"], `${format} intact`);
  },
};

const hugeDimensions: Generator = {
  category: "huge declared dimensions",
  count: 2 * [...ACCEPTED, ...REFUSED].reduce((n, f) => n + hugeSizes(f).length, 0),
  make(ctx, i) {
    const all = [...ACCEPTED, ...REFUSED].flatMap((f) => hugeSizes(f).map((size) => [f, size] as const));
    const [format, [w, h]] = all[Math.floor(i / 2) % all.length]!;
    const image = withDeclaredSize(format, ctx.images.get(format)!, w, h);
    // A header claiming more pixels than the limit is refused from the header (TOO_LARGE) or,
    // when the header itself is out of the format's range, as corrupt; libtiff refuses a
    // directory with sizes above 2^31 outright, which sharp reports as an unknown format.
    const expect = format === "tiff" && w > 0x7ffffffe
      ? ["IMAGE_UNSUPPORTED_FORMAT", "IMAGE_CORRUPT", "IMAGE_TOO_LARGE"]
      : ACCEPTED.includes(format) ? ["IMAGE_TOO_LARGE", "IMAGE_CORRUPT"] : REFUSED_CODES;
    const note = `${format} declaring ${w}x${h}`;
    return i % 2 === 0
      ? { category: this.category, method: "Enroll", body: enrollBody({ modality: FACE, id: ctx.freshId(), image }), expect, note }
      : { category: this.category, method: "Search", body: searchBody({ modality: FACE, image }), expect, note };
  },
};

/**
 * Decompression bombs: one above the pixel limit (refused from its header), one just under it,
 * which is decoded in full (~100 MB of pixels) and must come back NO_FACE, not exhaust anything.
 */
function bombs(above: Buffer, under: Buffer): Generator {
  return {
    category: "decompression bombs (PNG, above / under the pixel limit)",
    count: 6,
    make(ctx, i) {
      const [image, expect, note] = i < 4 ? [above, "IMAGE_TOO_LARGE", "png bomb 8000x8000"] : [under, "NO_FACE", "png bomb 6000x6000"];
      return i % 2 === 0
        ? { category: this.category, method: "Enroll", body: enrollBody({ modality: FACE, id: ctx.freshId(), image }), expect: [expect], note }
        : { category: this.category, method: "Search", body: searchBody({ modality: FACE, image }), expect: [expect], note };
    },
  };
}

const oversized: Generator = {
  category: "images above MAX_IMAGE_BYTES",
  count: 4,
  make(ctx, i) {
    // One byte over (the handler refuses it) and past the transport limit (grpc-js refuses it).
    const size = i < 2 ? ctx.maxImageBytes + 1 : ctx.maxImageBytes + 128 * 1024;
    const image = Buffer.alloc(size, 0x41);
    return i % 2 === 0
      ? { category: this.category, method: "Enroll", body: enrollBody({ modality: FACE, id: ctx.freshId(), image }), expect: ["IMAGE_TOO_LARGE"], note: `${size} bytes` }
      : { category: this.category, method: "Search", body: searchBody({ modality: FACE, image }), expect: ["IMAGE_TOO_LARGE"], note: `${size} bytes` };
  },
};

/** grpc-timeout values without "1-8 digits + unit" anywhere in them: refused. */
const BAD_TIMEOUTS = ["soon", "1", "1X", "S", "", "-S", "999999999"];
/**
 * Malformed too, but grpc-js (1.14) searches the header for its pattern instead of matching all
 * of it ("1.5S" is read as 5 s, "-1S" as 1 s): the call then runs with that deadline, and the
 * answer is the request's own. The value never reaches our code (grpc-js removes the header).
 */
const LENIENT_TIMEOUTS = ["-1S", "1.5S", "123456789S", " 1S", "1S junk"];

function framing(gzipBomb: Buffer): Generator {
  return {
    category: "gRPC framing (raw HTTP/2)",
    count: 400,
    make(ctx, i) {
      const rng = ctx.rng;
      const method = (["Enroll", "Search", "Delete", "Get", "Stats"] as const)[rng.int(0, 4)]!;
      const message = baseBody(ctx, method);
      const invalid = expectForBody(method, message) ?? ["INVALID_ID"];
      const c = (note: string, headers: http2.OutgoingHttpHeaders, body: Buffer, expect: readonly string[]): FuzzCase =>
        ({ category: this.category, method, body: message, expect, note, framing: { headers, body } });
      switch (i % 9) {
        case 0: return c("gzip-compressed request", { "grpc-encoding": "gzip" }, grpcFrame(gzipSync(message), true), invalid);
        case 1: return c("deflate-compressed request", { "grpc-encoding": "deflate" }, grpcFrame(deflateSync(message), true), invalid);
        case 2: return c("corrupt gzip payload", { "grpc-encoding": "gzip" }, grpcFrame(rng.bytes(rng.int(1, 64)), true), ["INVALID_ARGUMENT"]);
        case 3: return c("unknown grpc-encoding", { "grpc-encoding": rng.pick(["br", "snappy", "zstd", "x"]) }, grpcFrame(message, true), ["INVALID_ARGUMENT"]);
        case 4: return c("gzip bomb past the limit", { "grpc-encoding": "gzip" }, grpcFrame(gzipBomb, true), ["IMAGE_TOO_LARGE"]);
        case 5: {
          if (rng.chance(0.3)) {
            const t = rng.pick(LENIENT_TIMEOUTS);
            return c(`grpc-timeout ${JSON.stringify(t)} read leniently`, { "grpc-timeout": t }, grpcFrame(message), invalid);
          }
          const t = rng.pick(BAD_TIMEOUTS);
          return c(`malformed grpc-timeout ${JSON.stringify(t)}`, { "grpc-timeout": t }, grpcFrame(message), ["INVALID_ARGUMENT"]);
        }
        case 6: return c("length prefix longer than the body", {}, grpcFrame(message, false, message.length + rng.int(1, 1000)), ["INVALID_ARGUMENT"]);
        case 7: return c("two messages in a unary call", {}, Buffer.concat([grpcFrame(message), grpcFrame(message)]), ["INVALID_ARGUMENT"]);
        default: return c("no message at all", {}, rng.chance(0.5) ? Buffer.alloc(0) : rng.bytes(rng.int(1, 4)), ["INVALID_ARGUMENT"]);
      }
    },
  };
}

const hostileHeaders: Generator = {
  category: "hostile call metadata",
  count: 300,
  make(ctx) {
    const rng = ctx.rng;
    const metadata: Record<string, string | Buffer> = {};
    const n = rng.int(1, 8);
    for (let k = 0; k < n; k++) {
      switch (rng.int(0, 4)) {
        case 0: metadata["x-taj-user"] = rng.pick(["root\u0000", "a".repeat(4000), "\u202eadmin", "../../admin", "*", ">"]).replace(/[^\x20-\x7e]/g, "?"); break;
        case 1: metadata["authorization"] = rng.pick(["Bearer ", "Bearer x.y.z", `Bearer ${"A".repeat(3000)}`, "Basic YWRtaW46YWRtaW4=", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."]); break;
        case 2: metadata[`x-fuzz-${k}-bin`] = rng.bytes(rng.int(0, 512)); break;
        case 3: metadata[`x-fuzz-${k}`] = "v".repeat(rng.int(0, 1000)); break;
        default: metadata["grpc-previous-rpc-attempts"] = String(rng.int(-5, 1e6));
      }
    }
    // A bad authorization header replaces the default token: the gateway authenticates before it
    // validates, so that call is refused UNAUTHENTICATED (or RATE_LIMITED once its address keeps failing).
    const expect = "authorization" in metadata ? AUTH_FAILED : ["INVALID_ID"];
    return { category: this.category, method: "Get", body: recordBody(FACE, "bad id!"), expect, note: `headers ${Object.keys(metadata).join(",")}`, metadata };
  },
};

/** Every entry of the run, in order; the image-heavy ones sized to fit a CI budget on 2 cores. */
export function generators(extra: { gzipBomb: Buffer; pngBombs: readonly [above: Buffer, under: Buffer]; credentials: readonly Generator[] }): Generator[] {
  return [
    ids, modalities, searchParams, invalidBoxes, absurdBoxes, wireTypes, garbage, truncatedMessages,
    ...ACCEPTED.map((f) => mutatedImages(f, 300)),
    ...REFUSED.map((f) => mutatedImages(f, 80)),
    intactImages, hugeDimensions, bombs(...extra.pngBombs), oversized, framing(extra.gzipBomb), hostileHeaders,
    ...extra.credentials,
  ];
}

/** Every case, drawn in order from one seeded generator: the same seed gives the same run. */
export function generateCases(ctx: GenContext, list: readonly Generator[]): FuzzCase[] {
  const cases: FuzzCase[] = [];
  for (const g of list) {
    for (let i = 0; i < g.count; i++) {
      let c: FuzzCase | undefined;
      for (let attempt = 0; c === undefined; attempt++) {
        if (attempt > 100) throw new Error(`${g.category}: no case after 100 draws`);
        c = g.make(ctx, i);
      }
      cases.push(c);
    }
  }
  return cases;
}
