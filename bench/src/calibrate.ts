import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { calibrate, extractSampleFaces } from "./real-faces.ts";

/** Where the measured real-model statistics are kept; DEFAULT_PARAMS in generator.ts are tuned to them. */
export const CALIBRATION_PATH = fileURLToPath(new URL("../results/calibration.json", import.meta.url));

// `node --import tsx bench/src/calibrate.ts` measures the real model again.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = calibrate(await extractSampleFaces());
  await writeFile(CALIBRATION_PATH, JSON.stringify(result, null, 2) + "\n");
  console.log(JSON.stringify(result, null, 2));
}
