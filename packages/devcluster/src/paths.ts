import { fileURLToPath } from "node:url";
import { resolve } from "node:path";

/** The repository root: services are started from here as `services/<kind>/src/main.ts`. */
export const repoRoot = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../..");
