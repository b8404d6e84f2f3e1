import { fromBinary } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { FileDescriptorProtoSchema, type DescriptorProto, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";

/**
 * The descriptors of a FileDescriptorSet as `buf build` wrote them, indexed for server reflection.
 * Each file keeps its own name, imports and options (proto-loader's re-encoding merged them into one
 * file per package and lost imports and map_entry: grpc/grpc-node#2595).
 */
export interface DescriptorIndex {
  /** The file named so and every file it imports, transitively: the file first, then its imports. */
  fileWithDependencies(fileName: string): Uint8Array[] | undefined;
  /** The file declaring a fully qualified package, message, enum, service, method or field. */
  fileOfSymbol(symbol: string): string | undefined;
  /** Whether a fully qualified message type is declared. */
  hasMessage(typeName: string): boolean;
}

export function indexDescriptorSet(setBytes: Uint8Array): DescriptorIndex {
  const files = new Map<string, FileDescriptorProto>();
  const encoded = new Map<string, Uint8Array>();
  const symbols = new Map<string, string>();
  const messages = new Set<string>();
  for (const bytes of fileBytesOf(setBytes)) {
    const file = fromBinary(FileDescriptorProtoSchema, bytes);
    files.set(file.name, file);
    encoded.set(file.name, bytes);
    indexFile(file, symbols, messages);
  }
  return {
    fileWithDependencies(fileName) {
      if (!files.has(fileName)) return undefined;
      const order: string[] = [];
      const visit = (name: string) => {
        if (order.includes(name)) return;
        order.push(name);
        for (const dep of files.get(name)?.dependency ?? []) visit(dep);
      };
      visit(fileName);
      // A set built by buf holds every import; a missing one would be a broken build, not a request error.
      return order.map((name) => {
        const bytes = encoded.get(name);
        if (!bytes) throw new Error(`descriptor set lacks ${name}, imported by ${fileName}`);
        return bytes;
      });
    },
    fileOfSymbol: (symbol) => symbols.get(symbol.replace(/^\./, "")),
    hasMessage: (typeName) => messages.has(typeName.replace(/^\./, "")),
  };
}

/**
 * The bytes of each FileDescriptorProto in a FileDescriptorSet (field 1, repeated), sliced as they
 * are: served byte for byte, nothing is re-encoded.
 */
function fileBytesOf(setBytes: Uint8Array): Uint8Array[] {
  const reader = new BinaryReader(setBytes);
  const out: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    if (fieldNo === 1 && wireType === WireType.LengthDelimited) out.push(reader.bytes());
    else reader.skip(wireType, fieldNo);
  }
  return out;
}

function indexFile(file: FileDescriptorProto, symbols: Map<string, string>, messages: Set<string>): void {
  const prefix = file.package ? `${file.package}.` : "";
  const add = (name: string) => {
    if (!symbols.has(name)) symbols.set(name, file.name);
  };
  // Clients ask for a package too (grpcurl `describe taj.v1`): the first file declaring it answers.
  if (file.package) add(file.package);
  const addMessage = (message: DescriptorProto, scope: string) => {
    const name = `${scope}${message.name}`;
    add(name);
    messages.add(name);
    for (const field of message.field) add(`${name}.${field.name}`);
    for (const oneof of message.oneofDecl) add(`${name}.${oneof.name}`);
    for (const nested of message.nestedType) addMessage(nested, `${name}.`);
    for (const nestedEnum of message.enumType) add(`${name}.${nestedEnum.name}`);
  };
  for (const message of file.messageType) addMessage(message, prefix);
  for (const enumType of file.enumType) {
    add(`${prefix}${enumType.name}`);
    // Enum values are scoped like their enum's siblings (protobuf's C++ scoping rule).
    for (const value of enumType.value) add(`${prefix}${value.name}`);
  }
  for (const service of file.service) {
    add(`${prefix}${service.name}`);
    for (const method of service.method) add(`${prefix}${service.name}.${method.name}`);
  }
}
