import { JsonBody } from '../expressions/call-context.js'

/** Whether an input has a JSON Schema `type`: the one check REST inputs and MCP arguments share. */
export function hasType (value: unknown, type: string): boolean {
  // a large argument kept as JSON text: its type without parsing it (an integer is checked upstream)
  if (value instanceof JsonBody) return value.jsonType === type || (type === 'integer' && value.jsonType === 'number')
  switch (type) {
    case 'string': return typeof value === 'string'
    case 'number': return typeof value === 'number' && Number.isFinite(value)
    case 'integer': return Number.isInteger(value)
    case 'boolean': return typeof value === 'boolean'
    case 'array': return Array.isArray(value)
    case 'object': return value !== null && typeof value === 'object' && !Array.isArray(value)
    default: return true
  }
}
