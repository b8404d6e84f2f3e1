// The one place the fuzz harness decides how it reaches the gateway and who it says it is. The
// public port is TLS (server certificate from the cluster's CA); it asks for a client certificate
// but does not require one. A caller is a client certificate OR a bearer token over TLS without a
// certificate. The default caller is a token with the roles search, enroll and admin (it calls
// Stats); bad-credential cases name another profile (FuzzCase.profile) and/or set their own
// "authorization" (FuzzCase.metadata), and need no change of the harness.
import { readFileSync } from "node:fs";
import * as http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { ERROR_CODE_KEY, ERROR_DETAIL_KEY, tokenCallerCredentials, type TlsFiles } from "@taj/common";
import { fromBinary } from "@bufbuild/protobuf";
import { ErrorDetailSchema } from "@taj/proto";

/**
 * Named ways of connecting. "default": TLS without a certificate, the default bearer token on
 * every call. "anonymous": the same TLS, no token. "client-cert": the cluster's taj-system client
 * certificate, no token. "foreign-cert": a client certificate (CN taj-system too) from another CA,
 * which the TLS layer lets through: the gateway's own check must refuse it.
 */
export type Profile = "default" | "anonymous" | "client-cert" | "foreign-cert";

/** Who the harness can be: the cluster's CA, the default token, and the two client certificates. */
export interface Identities {
  /** The CA the gateway's server certificate is checked against. */
  caFile: string;
  /** The default caller's bearer token (roles search, enroll, admin). */
  token: string;
  /** The cluster's client certificate (kind client, CN taj-system). */
  client: TlsFiles;
  /** A client certificate issued by a CA the gateway does not trust. */
  foreign: TlsFiles;
}

export function channelCredentials(ids: Identities, profile: Profile = "default"): grpc.ChannelCredentials {
  const ca = readFileSync(ids.caFile);
  switch (profile) {
    case "default":
    case "anonymous":
      return tokenCallerCredentials(ids.caFile);
    case "client-cert":
      return grpc.credentials.createSsl(ca, readFileSync(ids.client.keyFile), readFileSync(ids.client.certFile));
    case "foreign-cert":
      // The server is still checked against the cluster's CA; only the presented certificate is foreign.
      return grpc.credentials.createSsl(ca, readFileSync(ids.foreign.keyFile), readFileSync(ids.foreign.certFile));
  }
}

/** A metadata value of a case; several values are sent as repeated headers (e.g. two authorization headers). */
export type MetadataValue = string | Buffer | readonly string[];

/**
 * The metadata every call of the profile carries (the default token for "default"), then a case's
 * own, which replaces a key of the same name: a bad-token case sets its own "authorization".
 */
export function callMetadata(ids: Identities, profile: Profile = "default", extra: Record<string, MetadataValue> = {}): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (profile === "default") metadata.set("authorization", `Bearer ${ids.token}`);
  for (const [key, value] of Object.entries(extra)) {
    if (typeof value === "string" || Buffer.isBuffer(value)) {
      metadata.set(key, value);
    } else {
      metadata.remove(key);
      for (const v of value as readonly string[]) metadata.add(key, v);
    }
  }
  return metadata;
}

export interface Outcome {
  /** gRPC status number; 0 for OK. */
  status: number;
  /** The taj-error-code trailer, "OK" on success, "" when an error came without one. */
  code: string;
  /** grpc-message as received (for errors). */
  details: string;
  /** The message inside taj-error-detail-bin, when present. */
  detailMessage: string | undefined;
  ms: number;
}

const pass = (b: Buffer) => b;

/** A gRPC client that sends any bytes as the request of a method path: the pass-through serializer. */
export class RawClient {
  private readonly clients = new Map<Profile, grpc.Client>();

  constructor(private readonly address: string, private readonly ids: Identities) {}

  private client(profile: Profile): grpc.Client {
    let c = this.clients.get(profile);
    if (!c) {
      // The gateway's limit is what is tested: the client must not refuse large requests first.
      c = new grpc.Client(this.address, channelCredentials(this.ids, profile), { "grpc.max_send_message_length": -1 });
      this.clients.set(profile, c);
    }
    return c;
  }

  call(path: string, body: Buffer, options: { metadata?: Record<string, MetadataValue>; profile?: Profile; timeoutMs: number }): Promise<Outcome> {
    const started = performance.now();
    return new Promise((resolve) => {
      this.client(options.profile ?? "default").makeUnaryRequest(
        path, pass, pass, body, callMetadata(this.ids, options.profile, options.metadata), { deadline: Date.now() + options.timeoutMs },
        (err) => {
          const ms = performance.now() - started;
          if (!err) return resolve({ status: 0, code: "OK", details: "", detailMessage: undefined, ms });
          const code = err.metadata?.get(ERROR_CODE_KEY)[0];
          const detail = err.metadata?.get(ERROR_DETAIL_KEY)[0];
          resolve({
            status: err.code,
            code: typeof code === "string" ? code : "",
            details: err.details,
            detailMessage: detail instanceof Buffer ? fromBinary(ErrorDetailSchema, detail).message : undefined,
            ms,
          });
        },
      );
    });
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
  }
}

/**
 * An HTTP/2 session over TLS (no client certificate) for gRPC framing that grpc-js clients never
 * send (bad prefixes, encodings, timeouts). `localAddress` (e.g. 127.0.0.2) makes the gateway see
 * another peer host: its own bucket of the limiter of failing authentication.
 */
export function http2Connect(address: string, ids: Identities, localAddress?: string): http2.ClientHttp2Session {
  return http2.connect(`https://${address}`, { ca: readFileSync(ids.caFile), ALPNProtocols: ["h2"], ...(localAddress ? { localAddress } : {}) });
}

/** One call over raw HTTP/2 as the default caller: the headers given on top of gRPC's and the token, the body as sent (frames included). */
export function http2Call(session: http2.ClientHttp2Session, ids: Identities, path: string, headers: http2.OutgoingHttpHeaders, body: Buffer, timeoutMs: number): Promise<Outcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    const got: Record<string, string> = {};
    const stream = session.request({
      ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...callHeaders(ids), ...headers,
    });
    const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), timeoutMs);
    const take = (h: http2.IncomingHttpHeaders) => {
      for (const [k, v] of Object.entries(h)) if (typeof v === "string") got[k] = v;
    };
    stream.on("response", take);
    stream.on("trailers", take);
    stream.on("data", () => {});
    stream.on("error", () => {});
    stream.on("close", () => {
      clearTimeout(timer);
      const status = got["grpc-status"] === undefined ? -1 : Number(got["grpc-status"]);
      const detail = got[ERROR_DETAIL_KEY];
      resolve({
        status,
        code: status === 0 ? "OK" : (got[ERROR_CODE_KEY] ?? ""),
        details: decodeURIComponent(got["grpc-message"] ?? ""),
        detailMessage: detail ? fromBinary(ErrorDetailSchema, Buffer.from(detail, "base64")).message : undefined,
        ms: performance.now() - started,
      });
    });
    stream.end(body);
  });
}

/** The default caller's callMetadata as raw HTTP/2 headers. */
function callHeaders(ids: Identities): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(callMetadata(ids).getMap())) out[k] = typeof v === "string" ? v : v.toString("base64");
  return out;
}

/** A gRPC length-prefixed message frame. */
export function grpcFrame(payload: Buffer, compressed = false, declaredLength = payload.length): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(compressed ? 1 : 0, 0);
  head.writeUInt32BE(declaredLength >>> 0, 1);
  return Buffer.concat([head, payload]);
}
