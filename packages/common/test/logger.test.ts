import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { createLogger, encodeTemplateF16, encodeTemplateF32 } from "../src/index.ts";

test("logs never carry an image or a template, under any of the template's field names", () => {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString()), done()) });
  const logger = createLogger("test", "info", sink);
  const template = [0.25, -0.5, 0.125];
  const req = { id: "rec-1", image: new Uint8Array([1, 2, 3]), template, templateF32: encodeTemplateF32(template), templateF16: encodeTemplateF16(template) };
  logger.info(req, "top level");
  logger.info({ req, event: { templateF16: req.templateF16 } }, "one level down");
  assert.equal(lines.length, 2);
  for (const line of lines) {
    const entry = JSON.parse(line) as Record<string, unknown>;
    assert.doesNotMatch(line, /image|template/i, line);
    assert.ok(line.includes("rec-1"), "ids are logged");
    assert.ok(typeof entry.msg === "string");
  }
});
