/**
 * Bounded renderings of untrusted values for error messages. A value read from a file can be nested 100,000
 * levels deep or be megabytes long; `JSON.stringify` or a template literal on it would overflow the stack or
 * flood the terminal. These never throw and never return more than `max` characters.
 */

/** JSON text of `value`, cut to `max` characters ("…" marks a cut); a shape description when unprintable. */
export function previewJson(value: unknown, max = 60): string {
  if (value === undefined) return "nothing";
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    // Too deep to serialize (RangeError), or not JSON at all.
    text = Array.isArray(value)
      ? `an array of ${value.length}`
      : typeof value === "object"
        ? "an object"
        : typeof value;
  }
  return text.length > max ? `${text.slice(0, Math.max(0, max - 1))}…` : text;
}

/** A short description of what a value is: `a number 1.5`, `a string "x"`, `an array of 3`, `null`. */
export function describeValue(value: unknown, max = 40): string {
  if (value === undefined) return "nothing (key missing)";
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === "object") return "an object";
  return `${typeof value === "number" ? "a number" : `a ${typeof value}`} ${previewJson(value, max)}`;
}
