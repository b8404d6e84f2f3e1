/**
 * Standard deviation of Rec. 601 luma over interleaved RGB bytes, as a fraction of full scale
 * (0 = one flat colour; a sharp black-on-white pattern approaches 0.5).
 */
export function lumaContrast(rgb: Uint8Array): number {
  const pixels = rgb.length / 3;
  if (pixels === 0) return 0;
  let sum = 0;
  let squares = 0;
  for (let i = 0; i < rgb.length; i += 3) {
    const y = 0.299 * rgb[i]! + 0.587 * rgb[i + 1]! + 0.114 * rgb[i + 2]!;
    sum += y;
    squares += y * y;
  }
  const mean = sum / pixels;
  return Math.sqrt(Math.max(0, squares / pixels - mean * mean)) / 255;
}
