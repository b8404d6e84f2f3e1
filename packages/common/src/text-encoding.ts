import { configureTextEncoding, getTextEncoding } from "@bufbuild/protobuf/wire";

/**
 * protobuf-es decodes strings with a default TextDecoder, which silently drops a leading byte
 * order mark: the id "\uFEFFX1" arrived as "X1", so a Delete of one id removed another (found by
 * test/fuzz.test.ts). Strings must reach validation exactly as sent: keep the BOM, and let the
 * validators refuse it like any other invisible character.
 */
export function keepByteOrderMarks(): void {
  const lenient = new TextDecoder("utf-8", { ignoreBOM: true });
  const strict = new TextDecoder("utf-8", { ignoreBOM: true, fatal: true });
  const { encodeUtf8, checkUtf8 } = getTextEncoding();
  configureTextEncoding({
    encodeUtf8,
    checkUtf8,
    decodeUtf8: (bytes, isStrict) => (isStrict ? strict : lenient).decode(bytes),
  });
}
