// Number formats of the report, shared by report.mjs and the report parts of the measurement modules.
export const MB = 2 ** 20

export const sum = (values) => values.reduce((a, b) => a + b, 0)
export const int = (v) => Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a'
export const x = (v) => Number.isFinite(v) ? `${v.toFixed(2)}x` : 'n/a'
export const mb = (v) => Number.isFinite(v) ? `${(v / MB).toFixed(1)} MB` : 'n/a'
export const ms1 = (v) => Number.isFinite(v) ? v.toFixed(1) : 'n/a'
export const pct = (v) => Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : 'n/a'
export const signedPct = (v) => Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)}%` : 'n/a'
/** a value for a markdown table cell: one line, no column separators */
export const cell = (s) => String(s).replace(/\|/g, '/').replace(/\s+/g, ' ')
/** the "Holds" cell of a target row: true, false, or a sentence when it could only be tested in part */
export const verdict = (holds) => typeof holds === 'string' ? holds : holds ? 'yes' : '**no**'
