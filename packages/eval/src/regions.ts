import { readFile } from "node:fs/promises";
import { create } from "@bufbuild/protobuf";
import { z } from "zod";
import { BoxSchema, type Box } from "@taj/proto";

const RegionsFile = z.array(
  z.object({
    identity: z.string().min(1),
    file: z.string().min(1),
    box: z.object({ x: z.number().min(0), y: z.number().min(0), width: z.number().positive(), height: z.number().positive() }),
  }),
);

export const regionKey = (identity: string, file: string) => `${identity}/${file}`;

/** The boxes of a regions file, by identity/file; throws with the file's name on a bad one. */
export async function loadRegions(path: string): Promise<Map<string, Box>> {
  let parsed: z.infer<typeof RegionsFile>;
  try {
    parsed = RegionsFile.parse(JSON.parse(await readFile(path, "utf8")));
  } catch (err) {
    throw new Error(`${path} is not a regions file ([{identity, file, box: {x, y, width, height}}]): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return new Map(
    parsed.map((r) => [regionKey(r.identity, r.file), create(BoxSchema, { xPx: r.box.x, yPx: r.box.y, widthPx: r.box.width, heightPx: r.box.height })]),
  );
}
