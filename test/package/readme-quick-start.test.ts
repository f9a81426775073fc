import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

/**
 * The README's quick start, run as written (through a shell, from the repository root): the main
 * job's command must run the built CLI, not `npx naftiko`, which in a clone installs the project into
 * npx's cache and rebuilds it, silent for about 30 s. Only free ports are added, so the test does not
 * collide with a gateway or demo already on 8080/9090.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
const quickStart = README.slice(README.indexOf('\n## Quick start\n'), README.indexOf('\n### ', README.indexOf('\n## Quick start\n')))
const blocks = [...quickStart.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], text: (m[2] ?? '').trim() }))
const mainJobAt = blocks.findIndex((b) => b.lang === 'sh' && b.text.startsWith('CHATGPT_API_KEY='))
const mainJob = blocks[mainJobAt]?.text ?? ''
const expectedOutput = blocks[mainJobAt + 1]?.text.split('\n') ?? []

describe('README quick start', () => {
  let child: ChildProcess | undefined
  let closed: Promise<unknown> | undefined

  afterAll(async () => {
    // the shell and the gateway it started are one process group; 'close' comes once the gateway,
    // which holds the pipes too, has exited
    if (child?.pid !== undefined) {
      try { process.kill(-child.pid, 'SIGTERM') } catch {}
      await closed
    }
  })

  it('documents the main job as one command on the built CLI, with its output', () => {
    expect(mainJob).toMatch(/^CHATGPT_API_KEY=sk-\.\.\. node dist\/cli\.js run capabilities\/chat-completions\.yaml$/)
    expect(expectedOutput.length).toBeGreaterThanOrEqual(2)
  })

  it('starts serving within seconds and prints the addresses the README shows', async () => {
    const started = performance.now()
    child = spawn('sh', ['-c', `${mainJob.replace('sk-...', 'sk-readme-test-key')} --port rest=0 --port mcp=0`], { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, detached: true })
    closed = once(child, 'close')
    let stdout = ''
    let stderr = ''
    child.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
    // the README's lines, with the port each expose got instead of the capability's own
    const patterns = expectedOutput.map((line) => new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:(8080|9090)/, ':\\d+')}$`, 'm'))
    await new Promise<void>((resolve, reject) => {
      child?.stdout?.on('data', (d: Buffer) => {
        stdout += d.toString()
        if (patterns.every((p) => p.test(stdout))) resolve()
      })
      child?.once('exit', (code) => reject(new Error(`exited ${String(code)} before listening: ${stderr}`)))
    })
    expect(performance.now() - started).toBeLessThan(10_000)
    const rest = /rest \S+ listening on (\S+)/.exec(stdout)?.[1] ?? ''
    const res = await fetch(`${rest}/nowhere`)
    expect(res.status).toBe(404)
    expect(await res.json()).toMatchObject({ error: { code: 'unknown_route' } })
  })
})
