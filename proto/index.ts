// The one contract: generated protobuf-es code for every taj.v1 file, exported by name.
export * from "./gen/taj/v1/common_pb.ts";
export * from "./gen/taj/v1/matching_pb.ts";
export * from "./gen/taj/v1/extractor_pb.ts";
export * from "./gen/taj/v1/shard_pb.ts";
export * from "./gen/taj/v1/coordinator_pb.ts";
export * from "./gen/taj/v1/log_pb.ts";
export * from "./gen/taj/v1/audit_pb.ts";
export * from "./gen/taj/v1/projection_pb.ts";

import { fileURLToPath } from "node:url";

/** Binary FileDescriptorSet of proto/, built by `npm run gen`; used for server reflection. */
export const descriptorSetPath = fileURLToPath(new URL("./gen/descriptor.binpb", import.meta.url));
export * from "./gen/taj/v1/settings_pb.ts";
