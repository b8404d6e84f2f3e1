/** The formats the extractor decodes, by the name sharp gives them. */
export type AcceptedFormat = "jpeg" | "png" | "webp" | "tiff";

const ascii = (bytes: Uint8Array, at: number, text: string) =>
  bytes.length >= at + text.length && [...text].every((c, i) => bytes[at + i] === c.charCodeAt(0));

/**
 * The format an image claims by its first bytes, when it is one we accept. Checked before libvips
 * sees the bytes, so its other loaders (SVG through librsvg's XML parser, HEIF/AVIF, GIF, PDF...)
 * never run on untrusted input: the fuzz run found SVG and AVIF headers with absurd sizes making
 * GLib write CRITICAL lines to the extractor's log before the format was refused.
 */
export function sniffFormat(bytes: Uint8Array): AcceptedFormat | undefined {
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "jpeg";
  if (bytes[0] === 0x89 && ascii(bytes, 1, "PNG\r\n\x1a\n")) return "png";
  if (ascii(bytes, 0, "RIFF") && ascii(bytes, 8, "WEBP")) return "webp";
  // Classic TIFF (42) and BigTIFF (43), little- and big-endian.
  if (ascii(bytes, 0, "II") && (bytes[2] === 42 || bytes[2] === 43) && bytes[3] === 0) return "tiff";
  if (ascii(bytes, 0, "MM") && bytes[2] === 0 && (bytes[3] === 42 || bytes[3] === 43)) return "tiff";
  return undefined;
}
