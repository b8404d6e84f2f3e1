export { samplePhotoPaths, loadSamplePhotos, type SamplePhoto } from "./photos.ts";
export { renderFace, nearestBox, type Rendering } from "./renderings.ts";
export { enrollAllFaces, searchFace, type EnrolledFace, type RefusedFace, type MatchingClient, type ProbeOptions } from "./flows.ts";
export { markDesign, type MarkDesign, type MarkModality } from "./marks/designs.ts";
export { renderMark, type MarkRendering, type MarkRenderOptions } from "./marks/render.ts";
export { writeMarkDataset, type MarkDatasetOptions, type MarkDatasetLabel } from "./marks/dataset.ts";
