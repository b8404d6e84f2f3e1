// The template log's events as stored; the stream itself is defined in stream-settings.ts.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { TemplateEventSchema, type TemplateEvent } from "@taj/proto";

export function encodeTemplateEvent(event: TemplateEvent): Uint8Array {
  return toBinary(TemplateEventSchema, event);
}

export function decodeTemplateEvent(bytes: Uint8Array): TemplateEvent {
  return fromBinary(TemplateEventSchema, bytes);
}

export { create };
