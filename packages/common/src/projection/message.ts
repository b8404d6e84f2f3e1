import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ProjectionSchema, type Modality, type Projection } from "@taj/proto";
import { decodeF16, encodeF16 } from "../half.ts";
import type { LinearProjection } from "./learn.ts";

export interface ProjectionOrigin {
  modality: Modality;
  modelId: string;
  sampleSize: number;
  createdBy: string;
  createdAt?: Date;
}

/** The Projection message of a learned map; version 0 until the store allocates one. */
export function projectionMessage(map: LinearProjection, origin: ProjectionOrigin): Projection {
  return create(ProjectionSchema, {
    modality: origin.modality,
    version: 0,
    modelId: origin.modelId,
    inputDimensions: map.inputDimensions,
    outputDimensions: map.outputDimensions,
    mean: [...map.mean],
    matrixF16: encodeF16(map.matrix),
    sampleSize: origin.sampleSize,
    createdAt: timestampFromDate(origin.createdAt ?? new Date()),
    createdBy: origin.createdBy,
  });
}

/** The map a Projection message holds; throws when its fields disagree (lengths, dimensions). */
export function projectionOf(message: Projection): LinearProjection {
  const d = message.inputDimensions;
  const k = message.outputDimensions;
  if (d < 1 || k < 1 || k > d) throw new RangeError(`projection ${message.version}: bad dimensions ${d} -> ${k}`);
  if (message.mean.length !== d) throw new RangeError(`projection ${message.version}: mean has ${message.mean.length} values, not ${d}`);
  if (message.matrixF16.length !== 2 * d * k) throw new RangeError(`projection ${message.version}: matrix has ${message.matrixF16.length} bytes, not ${2 * d * k}`);
  return { inputDimensions: d, outputDimensions: k, mean: Float32Array.from(message.mean), matrix: decodeF16(message.matrixF16) };
}
