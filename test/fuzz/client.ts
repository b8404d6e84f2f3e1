// The one place the fuzz harness decides how it reaches the gateway and who it says it is.
// Today the public API is plaintext and unauthenticated. When it requires TLS and a caller
// identity (client certificate or OIDC bearer token), change channelCredentials / callMetadata /
// http2Connect here; cases that want bad credentials name a profile (FuzzCase.profile) or add
// headers (FuzzCase.metadata) and need no change of the harness.
import * as http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { ERROR_CODE_KEY, ERROR_DETAIL_KEY } from "@taj/common";
import { fromBinary } from "@bufbuild/protobuf";
import { ErrorDetailSchema } from "@taj/proto";

/** Named ways of connecting: "default" is a well-behaved caller; bad-certificate profiles go here. */
export type Profile = "default";

export function channelCredentials(_profile: Profile = "default"): grpc.ChannelCredentials {
  return grpc.credentials.createInsecure();
}

/**
 * The metadata every call carries (a bearer token, once callers authenticate), then a case's own,
 * which replaces a key of the same name: a bad-token case sets its own "authorization".
 */
export function callMetadata(extra: Record<string, string | Buffer> = {}): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(extra)) metadata.set(key, value);
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

  constructor(private readonly address: string) {}

  private client(profile: Profile): grpc.Client {
    let c = this.clients.get(profile);
    if (!c) {
      // The gateway's limit is what is tested: the client must not refuse large requests first.
      c = new grpc.Client(this.address, channelCredentials(profile), { "grpc.max_send_message_length": -1 });
      this.clients.set(profile, c);
    }
    return c;
  }

  call(path: string, body: Buffer, options: { metadata?: Record<string, string | Buffer>; profile?: Profile; timeoutMs: number }): Promise<Outcome> {
    const started = performance.now();
    return new Promise((resolve) => {
      this.client(options.profile ?? "default").makeUnaryRequest(
        path, pass, pass, body, callMetadata(options.metadata), { deadline: Date.now() + options.timeoutMs },
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

/** An HTTP/2 session for gRPC framing that grpc-js clients never send (bad prefixes, encodings, timeouts). */
export function http2Connect(address: string): http2.ClientHttp2Session {
  return http2.connect(`http://${address}`);
}

/** One call over raw HTTP/2: the headers given on top of gRPC's, the body as sent (frames included). */
export function http2Call(session: http2.ClientHttp2Session, path: string, headers: http2.OutgoingHttpHeaders, body: Buffer, timeoutMs: number): Promise<Outcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    const got: Record<string, string> = {};
    const stream = session.request({
      ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...callHeaders(), ...headers,
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

/** callMetadata as raw HTTP/2 headers. */
function callHeaders(): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(callMetadata().getMap())) out[k] = typeof v === "string" ? v : v.toString("base64");
  return out;
}

/** A gRPC length-prefixed message frame. */
export function grpcFrame(payload: Buffer, compressed = false, declaredLength = payload.length): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(compressed ? 1 : 0, 0);
  head.writeUInt32BE(declaredLength >>> 0, 1);
  return Buffer.concat([head, payload]);
}
