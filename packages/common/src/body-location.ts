import { ErrorCode, Modality } from "@taj/proto";
import { AppError } from "./errors.ts";

/**
 * Where on the body a tattoo or mark is, as the body-part part of an NCIC SMT code: ANSI/NIST-ITL
 * 1-2011 Field 10.040 takes its SMT codes from NCIC, whose codes are a type prefix and a body part
 * ("DISC L ARM", "ART R FT"). The type is TAJ's modality; this is the body part.
 *
 * Only body parts read in a published NCIC code list are here (docs/api.md cites the sources):
 * the skin-discoloration ("DISC ...") series, plus the right-side parts, elbows and toes that the
 * artificial-part ("ART ...") and crippled-part ("CRIP ...") series spell the same way. A part whose spelling we could not read (right
 * ankle, breast, buttock, knee, shoulder and thigh; neck; wrist) is left out rather than guessed.
 * NCIC spells some parts differently per series ("LKNEE" beside "L KNE"); this list keeps the
 * DISC spelling, so a code means one body part.
 */
export const BODY_LOCATIONS: ReadonlyMap<string, string> = new Map([
  ["ABDOM", "abdomen"],
  ["ANKL", "ankle, not specified"],
  ["L ANK", "ankle, left"],
  ["ARM", "arm, not specified"],
  ["L ARM", "arm, left"],
  ["R ARM", "arm, right"],
  ["BACK", "back"],
  ["BRST", "breast, not specified"],
  ["L BRS", "breast, left"],
  ["BUTTK", "buttock, not specified"],
  ["L BUT", "buttock, left"],
  ["CHEEK", "cheek (face), not specified"],
  ["L CHK", "cheek (face), left"],
  ["R CHK", "cheek (face), right"],
  ["CHEST", "chest"],
  ["CHIN", "chin"],
  ["EAR", "ear, not specified"],
  ["L EAR", "ear, left"],
  ["R EAR", "ear, right"],
  ["L ELB", "elbow, left"],
  ["R ELB", "elbow, right"],
  ["EYE", "eyebrow or eye area, not specified"],
  ["L EYE", "eyebrow or eye area, left"],
  ["FACE", "face, not specified"],
  ["FGR", "finger, not specified"],
  ["L FGR", "finger, left hand"],
  ["R FGR", "finger, right hand"],
  ["FOOT", "foot, not specified"],
  ["L FT", "foot, left"],
  ["R FT", "foot, right"],
  ["FHD", "forehead"],
  ["L HND", "hand, left"],
  ["R HND", "hand, right"],
  ["HEAD", "head"],
  ["HIP", "hip, not specified"],
  ["L HIP", "hip, left"],
  ["R HIP", "hip, right"],
  ["KNEE", "knee, not specified"],
  ["LKNEE", "knee, left"],
  ["LEG", "leg, not specified"],
  ["L LEG", "leg, left"],
  ["R LEG", "leg, right"],
  ["LIP", "lip, not specified"],
  ["L LIP", "lip, lower (not left)"],
  ["NOSE", "nose"],
  ["LSHLD", "shoulder, left"],
  ["LTHGH", "thigh, left"],
  ["L TOE", "toe, left foot"],
  ["R TOE", "toe, right foot"],
]);

/** Most codes one search may filter on: a filter names a few body regions, not a catalogue. */
export const MAX_BODY_LOCATION_FILTER = 16;

// The longest code is 5 characters; an echo longer than this, or of other characters, could
// carry whatever the caller typed (a name, a note) into logs and error reports.
const SAFE_ECHO = /^[A-Z0-9 ]{1,10}$/;

/** Upper case, trimmed, inner runs of spaces as one: "l  arm " is "L ARM". */
function normalise(value: string): string {
  return value.trim().replace(/\s+/g, " ").toUpperCase();
}

function unknownCode(field: string, value: string): AppError {
  const echo = SAFE_ECHO.test(value) ? ` "${value}"` : "";
  return new AppError(ErrorCode.INVALID_BODY_LOCATION, `${field}${echo} is not an SMT body-location code (docs/api.md lists them)`);
}

function faceRefused(field: string): AppError {
  return new AppError(ErrorCode.INVALID_BODY_LOCATION, `${field} is for TATTOO and MARK only, not FACE`);
}

function parseCode(field: string, value: string): string {
  const code = normalise(value);
  if (!BODY_LOCATIONS.has(code)) throw unknownCode(field, code);
  return code;
}

/**
 * The one check of an enrolment's body_location: "" (none) stays "", anything else must be a code
 * of BODY_LOCATIONS and is returned in its canonical spelling; FACE takes none.
 */
export function parseBodyLocation(modality: Modality, value: string): string {
  if (normalise(value) === "") return "";
  if (modality === Modality.FACE) throw faceRefused("body_location");
  return parseCode("body_location", value);
}

/**
 * The one check of a search's body_locations filter: each a code of BODY_LOCATIONS, duplicates
 * dropped (first spelling order kept), at most MAX_BODY_LOCATION_FILTER; FACE takes none. Empty
 * means no filter.
 */
export function parseBodyLocationFilter(modality: Modality, values: readonly string[]): string[] {
  if (values.length === 0) return [];
  if (modality === Modality.FACE) throw faceRefused("body_locations");
  const codes = new Set<string>();
  for (const value of values) {
    codes.add(parseCode("body_locations", value));
    if (codes.size > MAX_BODY_LOCATION_FILTER) {
      throw new AppError(ErrorCode.INVALID_BODY_LOCATION, `body_locations may name at most ${MAX_BODY_LOCATION_FILTER} codes`);
    }
  }
  return [...codes];
}

/**
 * The body part of an NCIC SMT code as an ANSI/NIST-ITL Type-10 record carries it in field 10.040
 * (type prefix, space, body part: "TAT L ARM", "SC R HND"), when the part is one of
 * BODY_LOCATIONS; undefined otherwise (a record's code is metadata, not a caller's input to refuse).
 */
export function bodyLocationOfSmtCode(code: string): string | undefined {
  const normalised = normalise(code);
  const space = normalised.indexOf(" ");
  if (space < 0) return undefined;
  const part = normalised.slice(space + 1);
  return BODY_LOCATIONS.has(part) ? part : undefined;
}
