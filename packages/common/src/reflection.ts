import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { descriptorSetPath } from "@taj/proto";
import { indexDescriptorSet, type DescriptorIndex } from "./reflection-index.ts";

/**
 * gRPC server reflection (grpc.reflection.v1, and v1alpha that grpcurl still asks first) over the
 * FileDescriptorSet `buf` built. @grpc/reflection cannot serve it faithfully even when fed the raw
 * files: it re-encodes each one with protobufjs (8 bytes shorter per file here), derives imports from
 * its own reference graph and lists every service of every file.
 */
export const REFLECTION_SERVICES = ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"] as const;
export const HEALTH_SERVICE = "grpc.health.v1.Health";

/** The request as proto-loader decodes it (camelCase, oneof name in messageRequest). */
interface ReflectionRequest {
  host?: string;
  messageRequest?: string;
  fileByFilename?: string;
  fileContainingSymbol?: string;
  fileContainingExtension?: { containingType?: string; extensionNumber?: number };
  allExtensionNumbersOfType?: string;
  listServices?: string;
}

type ReflectionAnswer =
  | { fileDescriptorResponse: { fileDescriptorProto: Uint8Array[] } }
  | { listServicesResponse: { service: { name: string }[] } }
  | { allExtensionNumbersResponse: { baseTypeName: string; extensionNumber: number[] } }
  | { errorResponse: { errorCode: number; errorMessage: string } };

let sharedIndex: DescriptorIndex | undefined;

/** The project's descriptor set, indexed once per process. */
export function projectDescriptors(): DescriptorIndex {
  sharedIndex ??= indexDescriptorSet(readFileSync(descriptorSetPath));
  return sharedIndex;
}

/** One answer; pure, so the rules are testable without a server. */
export function answerReflection(index: DescriptorIndex, listed: readonly string[], request: ReflectionRequest): ReflectionAnswer {
  const notFound = (what: string): ReflectionAnswer => ({ errorResponse: { errorCode: grpc.status.NOT_FOUND, errorMessage: `${what} not found` } });
  const files = (fileName: string | undefined): ReflectionAnswer | undefined => {
    const found = fileName === undefined ? undefined : index.fileWithDependencies(fileName);
    return found ? { fileDescriptorResponse: { fileDescriptorProto: found } } : undefined;
  };
  switch (request.messageRequest) {
    case "listServices":
      return { listServicesResponse: { service: listed.map((name) => ({ name })) } };
    case "fileByFilename":
      return files(request.fileByFilename ?? "") ?? notFound("file");
    case "fileContainingSymbol":
      return files(index.fileOfSymbol(request.fileContainingSymbol ?? "")) ?? notFound("symbol");
    case "fileContainingExtension":
      // The contract declares no extensions.
      return notFound("extension");
    case "allExtensionNumbersOfType": {
      const typeName = request.allExtensionNumbersOfType ?? "";
      if (!index.hasMessage(typeName)) return notFound("type");
      return { allExtensionNumbersResponse: { baseTypeName: typeName, extensionNumber: [] } };
    }
    default:
      return { errorResponse: { errorCode: grpc.status.INVALID_ARGUMENT, errorMessage: "no request in message_request" } };
  }
}

export type ReflectionVersion = "v1" | "v1alpha";

export function reflectionProtoPath(version: ReflectionVersion): string {
  // The .proto files ship with @grpc/reflection; proto-loader only decodes reflection's own messages.
  const root = dirname(createRequire(import.meta.url).resolve("@grpc/reflection/package.json"));
  return join(root, "build", "proto", "grpc", "reflection", version, "reflection.proto");
}

function serviceDefinition(version: ReflectionVersion): grpc.ServiceDefinition {
  const pkg = loadSync(reflectionProtoPath(version), { longs: String, enums: Number, defaults: false, oneofs: true });
  const definition = pkg[`grpc.reflection.${version}.ServerReflection`];
  if (!definition || "format" in definition) throw new Error(`reflection ${version}: service definition missing`);
  return definition as unknown as grpc.ServiceDefinition;
}

/**
 * Adds both reflection services. `serviceNames` are the services the server serves; the listing adds
 * health and reflection, which every server of ours carries.
 */
export function addReflection(server: grpc.Server, serviceNames: readonly string[], index: DescriptorIndex = projectDescriptors()): void {
  const listed = [...serviceNames, HEALTH_SERVICE, ...REFLECTION_SERVICES];
  const handler = (stream: grpc.ServerDuplexStream<ReflectionRequest, unknown>) => {
    stream.on("data", (request: ReflectionRequest) => {
      stream.write({ validHost: request.host ?? "", originalRequest: request, ...answerReflection(index, listed, request) });
    });
    stream.on("end", () => stream.end());
  };
  for (const version of ["v1", "v1alpha"] as const) {
    server.addService(serviceDefinition(version), { ServerReflectionInfo: handler });
  }
}

export type { ReflectionRequest };
