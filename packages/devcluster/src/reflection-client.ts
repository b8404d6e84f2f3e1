import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { create, createFileRegistry, fromBinary, fromJson, toBinary, toJson, type FileRegistry, type JsonValue } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { reflectionProtoPath, type ReflectionVersion } from "@taj/common";

/**
 * A client that knows a server only through its reflection service, as grpcurl does: for tests and
 * operators' checks that what the servers describe is loadable and callable.
 */
export interface ReflectionClient {
  /** The fully qualified names of the services the server lists. */
  listServices(): Promise<string[]>;
  /**
   * A strict registry of the file declaring `symbol` and everything it imports, built only from the
   * server's answers; throws (createFileRegistry) on a missing import or a malformed descriptor.
   */
  registryFor(symbol: string): Promise<FileRegistry>;
  /** Calls a unary method with bytes encoded and decoded by `registry` alone; the answer as JSON. */
  call(registry: FileRegistry, service: string, method: string, request?: JsonValue): Promise<JsonValue>;
  close(): void;
}

interface Reply {
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

export class ReflectionLookupError extends Error {
  constructor(readonly grpcCode: number, message: string) {
    super(message);
    this.name = "ReflectionLookupError";
  }
}

export function reflectionClient(address: string, credentials: grpc.ChannelCredentials, version: ReflectionVersion = "v1"): ReflectionClient {
  const pkg = grpc.loadPackageDefinition(loadSync(reflectionProtoPath(version), { oneofs: true, longs: String }));
  const Client = ((((pkg.grpc as grpc.GrpcObject).reflection as grpc.GrpcObject)[version] as grpc.GrpcObject).ServerReflection) as grpc.ServiceClientConstructor;
  const reflection = new Client(address, credentials);
  const raw = new grpc.Client(address, credentials);

  // One stream per question: reflection's answers come in order, but one-shot streams keep it simple.
  const ask = (request: Record<string, unknown>) =>
    new Promise<Reply>((resolve, reject) => {
      const open = reflection.ServerReflectionInfo;
      if (!open) throw new Error("reflection client without ServerReflectionInfo");
      const stream = open.call(reflection, new grpc.Metadata(), { waitForReady: true }) as grpc.ClientDuplexStream<object, Reply>;
      stream.once("data", (reply: Reply) => {
        resolve(reply);
        stream.end();
      });
      stream.once("error", reject);
      stream.write(request);
    });

  return {
    async listServices() {
      const reply = await ask({ listServices: "*" });
      if (!reply.listServicesResponse) throw new ReflectionLookupError(reply.errorResponse?.errorCode ?? grpc.status.UNKNOWN, "no service list");
      return reply.listServicesResponse.service.map((s) => s.name);
    },
    async registryFor(symbol) {
      const reply = await ask({ fileContainingSymbol: symbol });
      const files = reply.fileDescriptorResponse?.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
      if (!files || files.length === 0) {
        throw new ReflectionLookupError(reply.errorResponse?.errorCode ?? grpc.status.UNKNOWN, reply.errorResponse?.errorMessage ?? `no file for ${symbol}`);
      }
      return createFileRegistry(create(FileDescriptorSetSchema, { file: importsFirst(files) }));
    },
    async call(registry, service, method, request = {}) {
      const desc = registry.getService(service)?.methods.find((m) => m.name === method);
      if (!desc) throw new Error(`${service}.${method} is not in the registry`);
      const body = Buffer.from(toBinary(desc.input, fromJson(desc.input, request, { registry })));
      const bytes = await new Promise<Buffer>((resolve, reject) =>
        raw.makeUnaryRequest(`/${service}/${method}`, (b: Buffer) => b, (b: Buffer) => b, body, (err, res) => (err || !res ? reject(err ?? new Error("no answer")) : resolve(res))),
      );
      return toJson(desc.output, fromBinary(desc.output, bytes), { registry });
    },
    close() {
      reflection.close();
      raw.close();
    },
  };
}

/**
 * The returned files ordered imports first, as a FileDescriptorSet must be for createFileRegistry
 * (whose resolver overload, in protobuf-es 2.x, orders them wrongly when two imports share one).
 * A returned file that the first does not import, even transitively, is left out.
 */
function importsFirst(files: FileDescriptorProto[]): FileDescriptorProto[] {
  const byName = new Map(files.map((f) => [f.name, f]));
  const ordered: FileDescriptorProto[] = [];
  const visit = (name: string) => {
    const file = byName.get(name);
    if (!file || ordered.includes(file)) return;
    for (const dep of file.dependency) visit(dep);
    ordered.push(file);
  };
  if (files[0]) visit(files[0].name);
  return ordered;
}
