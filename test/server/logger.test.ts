import { Writable } from 'node:stream'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { buildRedactor } from '../../src/bindings/redact.js'
import { createLogger, flatLine, LineBatch, type FlatFields } from '../../src/server/logger.js'

const SECRET = 'sk-logger-test-0123456789'

interface Captured {
  logger: ReturnType<typeof createLogger>['logger']
  /** the lines written so far */
  lines: () => Promise<string[]>
}

const toLines = (text: string): string[] => text.split('\n').filter((l) => l !== '')

/** A logger writing text to a stream (as pretty output or a test's destination), with SECRET bound. */
function capture (level: 'info' | 'warn' = 'info'): Captured {
  const lines: string[] = []
  const out = new Writable({
    write (chunk: Buffer, _encoding, done) {
      lines.push(...toLines(chunk.toString('utf8')))
      done()
    },
  })
  const logger = createLogger(level, buildRedactor([SECRET]), out).logger
  return { logger, lines: async () => { await new Promise((resolve) => setImmediate(resolve)); return lines } }
}

/** A logger writing into a LineBatch, as the gateway's does, with SECRET bound. */
function batched (level: 'info' | 'warn' = 'info'): Captured {
  const writes: Buffer[] = []
  const batch = new LineBatch({ write: (bytes) => { writes.push(bytes); return true } }, buildRedactor([SECRET]))
  const logger = pino({ level, base: { name: 'naftiko' } }, batch)
  return { logger, lines: async () => { batch.flush(); return toLines(Buffer.concat(writes).toString('utf8')) } }
}

const FIELDS: FlatFields = { reqId: 'a-1', method: 'POST', route: null, status: 200, upstreamStatus: undefined, ms: 1.25, quoted: 'say "hi"\n\u0001', huge: Infinity, accent: 'café', slash: 'a\\b', tab: 'a\tb', del: 'x\u007f', lone: 'x\ud800', long: 'r'.repeat(70), empty: '' }

for (const [into, make] of [['a stream', capture], ['a LineBatch', batched]] as const) {
  describe(`flatLine into ${into}`, () => {
    it('writes the line logger.info writes: the same fields in the same order, with the bindings', async () => {
      const { lines, logger } = make()
      const child = logger.child({ expose: 'rest-x' })
      child.info(FIELDS, 'request')
      flatLine(child)(FIELDS, 'request')
      const written = await lines()
      expect(written).toHaveLength(2)
      const [fromPino, flat] = written.map((line) => JSON.parse(line) as Record<string, unknown>) as [Record<string, unknown>, Record<string, unknown>]
      expect(Object.keys(flat)).toEqual(Object.keys(fromPino))
      // a lone surrogate: pino writes it as it is (the UTF-8 encoder makes it U+FFFD), the flat line
      // escapes it, as JSON.stringify does, so that it reads back as it was
      expect({ ...flat, time: 0, lone: '' }).toEqual({ ...fromPino, time: 0, lone: '' })
      expect(flat).toMatchObject({ level: 30, name: 'naftiko', expose: 'rest-x', route: null, huge: null, quoted: 'say "hi"\n\u0001', accent: 'café', slash: 'a\\b', tab: 'a\tb', lone: 'x\ud800', empty: '', msg: 'request' })
      expect(flat.upstreamStatus).toBeUndefined()
      expect(Math.abs((flat.time as number) - Date.now())).toBeLessThan(5_000)
    })

    it('writes nothing below the logger\'s level', async () => {
      const { lines, logger } = make('warn')
      const line = flatLine(logger)
      line({ status: 200 }, 'request')
      expect(await lines()).toEqual([])
      // the level is asked per line
      logger.level = 'info'
      line({ status: 201 }, 'request')
      expect((await lines()).map((l) => (JSON.parse(l) as { status: number }).status)).toEqual([201])
    })

    it('writes numbers as JSON.stringify does: hundredths from integers, the rest as they are', async () => {
      const { lines, logger } = make()
      const line = flatLine(logger)
      const values = [0, 7, -3, -0, 0.5, 0.07, 1.05, 12.3, 99.99, 123456.78, Math.round(1.005 * 100) / 100, -1.25, 0.001, 1.0000001, 0.1 + 0.2, 5e-7, 1e21, 2 ** 40 + 0.5, 2 ** 53, Number.MAX_SAFE_INTEGER, 1796391669991, NaN, Infinity]
      for (let i = 0; i < 2000; i++) values.push(Math.round(Math.random() * 1e7) / 100, Math.round(Math.random() * 1e12))
      for (const ms of values) line({ ms }, 'request')
      const written = await lines()
      expect(written).toHaveLength(values.length)
      written.forEach((text, i) => {
        expect(/"ms":([^,}]*)/.exec(text)?.[1]).toBe(JSON.stringify(values[i]))
      })
    })

    it('passes the line through the redactor', async () => {
      const { lines, logger } = make()
      flatLine(logger)({ route: `/x/${SECRET}`, cause: Buffer.from(`u:${SECRET}`).toString('base64') }, 'request')
      const written = await lines()
      expect(written).toHaveLength(1)
      expect(written[0]).not.toContain(SECRET)
      expect(written[0]).toContain('[redacted]')
    })
  })
}

describe('flatLine into a LineBatch', () => {
  it('writes each line byte for byte as the text writer does, long values, other messages and pino\'s lines between', async () => {
    const text = capture()
    const bytes = batched()
    const values: Array<string | number | null | undefined> = ['', 'POST', '/v1/chat/completions', 'é', '漢字', '😀', 'q"q', 'x'.repeat(64), 'x'.repeat(65), 'é'.repeat(3000), 'y'.repeat(20_000), null, undefined, 0, 12.5, -7, NaN]
    for (let i = 0; i < 600; i++) {
      const fields: FlatFields = {}
      for (let k = 0; k < 1 + i % 9; k++) fields[`k${(i + k) % 12}`] = values[(i * 7 + k * 3) % values.length]
      const msg = i % 5 === 0 ? 'request' : `m${i % 3} é`
      for (const { logger } of [text, bytes]) {
        flatLine(logger)(fields, msg)
        if (i % 50 === 0) logger.warn({ i }, 'between')
      }
    }
    const timeless = (lines: string[]): string[] => lines.map((l) => l.replace(/"time":\d+/, '"time":0'))
    const expected = timeless(await text.lines())
    expect(expected).toHaveLength(612)
    expect(timeless(await bytes.lines())).toEqual(expected)
  })
})

describe('LineBatch', () => {
  /** A batch writing into a list of texts, as sonic-boom receives them. */
  function batch (): { writes: string[], lines: LineBatch } {
    const writes: string[] = []
    return { writes, lines: new LineBatch({ write: (bytes) => { writes.push(bytes.toString('utf8')); return true } }, buildRedactor([SECRET])) }
  }

  it('writes the lines whole, in order, in batches of about 64 KiB, scrubbed', () => {
    const { writes, lines } = batch()
    const samples = ['plain', 'é à ü', '漢字かな', '😀 pair', 'x'.repeat(7_000), '€'.repeat(6_000), 'y'.repeat(300), 'z'.repeat(20_000)]
    const expected: string[] = []
    for (let i = 0; i < 400; i++) {
      // a secret in a few batches only
      const line = `{"n":${i},"text":${JSON.stringify(i % 97 === 5 ? `key ${SECRET} inside` : samples[i % samples.length])}}\n`
      lines.write(line)
      expected.push(line.replace(SECRET, '[redacted]'))
    }
    lines.flush()
    expect(writes.join('')).toBe(expected.join(''))
    // each write ends with a line's end, so no secret is cut between two writes
    for (const write of writes) expect(write.at(-1)).toBe('\n')
    expect(writes.length).toBeGreaterThan(20)
    expect(writes.join('')).not.toContain(SECRET)
  })

  it('writes nothing for an empty batch', () => {
    const { writes, lines } = batch()
    lines.flush()
    expect(writes).toEqual([])
    lines.write(`short ${SECRET}\n`)
    lines.flush()
    expect(writes).toEqual(['short [redacted]\n'])
  })
})
