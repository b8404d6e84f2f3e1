// Centring + PCA whitening of templates: learned by tajctl, applied by shards (proto/taj/v1/projection.proto).
export { learnProjection, DEFAULT_REGULARIZATION, type LinearProjection, type LearnedProjection, type LearnOptions } from "./learn.ts";
export { applyProjection, linearMap } from "./apply.ts";
export { encodeF16, decodeF16, F16_MAX } from "../half.ts";
export { projectionMessage, projectionOf, type ProjectionOrigin } from "./message.ts";
