import { describe, expect, it } from 'vitest'
import { matchDirectCall } from '../../src/exposers/mcp/mcp-direct-call.js'
import type { PreparedTool } from '../../src/exposers/mcp/mcp-tools.js'

// which tools/call requests the gateway answers itself and which go to the SDK (matchDirectCall
// only looks the tool up by name)
const TOOL = 'chat'
const tools = new Map([[TOOL, { definition: { name: TOOL } } as unknown as PreparedTool]])
const PREFIX = 'io.modelcontextprotocol/'
const envelope = { [`${PREFIX}protocolVersion`]: '2026-07-28', [`${PREFIX}clientInfo`]: { name: 'c', version: '1' }, [`${PREFIX}clientCapabilities`]: {} }
const modern = (meta: Record<string, unknown> = envelope) => ({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: TOOL, arguments: { body: {} }, _meta: meta } })
const modernHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': TOOL }
const legacy = { jsonrpc: '2.0', id: 'a', method: 'tools/call', params: { name: TOOL, arguments: { body: {} } } }
const legacyHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' }

describe('matchDirectCall', () => {
  it('takes a plain call of either protocol generation', () => {
    expect(matchDirectCall(modern(), modernHeaders, tools)?.era).toBe('modern')
    expect(matchDirectCall(legacy, legacyHeaders, tools)?.era).toBe('legacy')
  })

  it('takes a JSON content type with parameters, and only JSON', () => {
    expect(matchDirectCall(modern(), { ...modernHeaders, 'content-type': 'application/json; charset=utf-8' }, tools)?.era).toBe('modern')
    for (const type of ['text/plain', 'application/jso', 'Application/JSON', '']) {
      expect(matchDirectCall(modern(), { ...modernHeaders, 'content-type': type }, tools), type).toBeUndefined()
    }
    const { 'content-type': _type, ...none } = legacyHeaders
    expect(matchDirectCall(legacy, none, tools)).toBeUndefined()
  })

  it('leaves a reserved envelope key it does not know to the SDK, and ignores keys of other names', () => {
    expect(matchDirectCall(modern({ ...envelope, [`${PREFIX}somethingNew`]: true }), modernHeaders, tools)).toBeUndefined()
    expect(matchDirectCall(modern({ ...envelope, 'com.example/trace': 'x' }), modernHeaders, tools)?.era).toBe('modern')
    const { [`${PREFIX}clientCapabilities`]: _capabilities, ...without } = envelope
    expect(matchDirectCall(modern(without), modernHeaders, tools)).toBeUndefined()
    expect(matchDirectCall(modern({ ...envelope, [`${PREFIX}clientInfo`]: { name: 'c' } }), modernHeaders, tools)).toBeUndefined()
  })

  it('leaves progress, unknown tools and mismatched headers to the SDK', () => {
    expect(matchDirectCall(modern({ ...envelope, progressToken: 1 }), modernHeaders, tools)).toBeUndefined()
    expect(matchDirectCall({ ...legacy, params: { ...legacy.params, name: 'other' } }, legacyHeaders, tools)).toBeUndefined()
    expect(matchDirectCall(modern(), { ...modernHeaders, 'mcp-name': 'other' }, tools)).toBeUndefined()
    expect(matchDirectCall(legacy, { ...legacyHeaders, accept: 'application/json' }, tools)).toBeUndefined()
  })
})
