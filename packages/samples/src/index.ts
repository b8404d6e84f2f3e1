export { samplePhotoPaths, loadSamplePhotos, type SamplePhoto } from "./photos.ts";
export { renderFace, nearestBox, type Rendering } from "./renderings.ts";
export { enrollAllFaces, searchFace, type EnrolledFace, type RefusedFace, type MatchingClient, type ProbeOptions } from "./flows.ts";
