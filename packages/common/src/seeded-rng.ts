/** A seeded source of numbers in [0, 1): the same seed gives the same sequence on every machine. */
export type Rng = () => number;

/**
 * mulberry32: small and fast, good enough for test data, fuzz cases and generated samples (not
 * for anything secret). One implementation, so a seed means the same sequence everywhere.
 */
export function seededRng(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
