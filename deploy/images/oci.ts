// Reads an OCI image archive (`podman save --format oci-archive`) without a container runtime:
// its image config, and its filesystem unpacked layer by layer into a directory.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";

const Descriptor = z.object({ mediaType: z.string(), digest: z.string().regex(/^sha256:[0-9a-f]{64}$/), size: z.number() });
const Index = z.object({ manifests: z.array(Descriptor).length(1) });
const Manifest = z.object({ config: Descriptor, layers: z.array(Descriptor).min(1) });
/** The fields of the image config (OCI image spec, "config") that the images set. */
export const ImageConfig = z.object({
  architecture: z.string(),
  os: z.string(),
  config: z.object({
    User: z.string().optional(),
    Env: z.array(z.string()).default([]),
    Entrypoint: z.array(z.string()).optional(),
    Cmd: z.array(z.string()).optional(),
    WorkingDir: z.string().optional(),
    Volumes: z.record(z.string(), z.object({})).optional(),
    Labels: z.record(z.string(), z.string()).default({}),
  }),
});
export type ImageConfig = z.infer<typeof ImageConfig>;

export interface UnpackedImage {
  readonly config: ImageConfig;
  /** The root filesystem: every layer applied in order. */
  readonly rootfs: string;
  readonly layers: number;
}

const blobPath = (dir: string, digest: string) => join(dir, "blobs", "sha256", digest.slice("sha256:".length));

/**
 * Unpacks `archive` under `workDir` (as root, so owners and modes are kept). The images are made
 * of COPY steps only, so no layer deletes anything: a whiteout file would mean a layer this code
 * does not apply correctly, and is refused rather than ignored.
 */
export function unpackOciArchive(archive: string, workDir: string): UnpackedImage {
  const layout = join(workDir, "layout");
  const rootfs = join(workDir, "rootfs");
  mkdirSync(layout, { recursive: true });
  mkdirSync(rootfs, { recursive: true });
  execFileSync("tar", ["-xf", archive, "-C", layout]);
  const index = Index.parse(JSON.parse(readFileSync(join(layout, "index.json"), "utf8")));
  const manifest = Manifest.parse(JSON.parse(readFileSync(blobPath(layout, index.manifests[0]!.digest), "utf8")));
  const config = ImageConfig.parse(JSON.parse(readFileSync(blobPath(layout, manifest.config.digest), "utf8")));
  for (const layer of manifest.layers) {
    // GNU tar detects the compression (gzip or none) itself.
    execFileSync("tar", ["-xf", blobPath(layout, layer.digest), "-C", rootfs, "--same-owner", "--same-permissions"]);
  }
  const whiteout = execFileSync("find", [rootfs, "-name", ".wh.*", "-print", "-quit"]).toString().trim();
  if (whiteout) throw new Error(`${archive}: a layer deletes files (${whiteout}): not supported here`);
  return { config, rootfs, layers: manifest.layers.length };
}

/** The numeric uid of an image config's User ("10001", "10001:10001"); undefined for a name or none. */
export function numericUid(user: string | undefined): number | undefined {
  const uid = user?.split(":")[0];
  return uid !== undefined && /^\d+$/.test(uid) ? Number(uid) : undefined;
}
