/** a character that a one-byte (Latin-1) string cannot hold */
const WIDE = /[\u0100-\uffff]/

/**
 * V8 stores a string with two bytes per character when the text it was cut from holds any character
 * above U+00FF, and every string built from it inherits that, whatever its own characters: one em
 * dash in a capability's description makes its namespaces, paths and header values two-byte, and
 * with them the log lines and upstream request heads they are joined into, which then cost about
 * twice as much to join, scan and encode. This replaces, in place, every string value of parsed data
 * that fits one byte per character with a one-byte copy. Object keys stay as they are: V8 keeps one
 * copy of each key, the first made.
 */
export function compactStrings<T> (value: T, seen = new Set<object>()): T {
  if (typeof value === 'string') return (WIDE.test(value) ? value : Buffer.from(value, 'latin1').toString('latin1')) as T
  // YAML aliases can make the same object appear twice, or inside itself
  if (value === null || typeof value !== 'object' || seen.has(value)) return value
  seen.add(value)
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = compactStrings(value[i], seen)
  } else {
    const record = value as Record<string, unknown>
    for (const key of Object.keys(record)) record[key] = compactStrings(record[key], seen)
  }
  return value
}
