import type { Server, ServerResponse } from 'node:http'
import { zip } from 'fflate'
import type { Redactor } from '../../bindings/redact.js'
import type { CapabilityModel, Skill, SkillExpose } from '../../capability/model.js'
import { filePathOf } from '../../capability/file-location.js'
import { NaftikoError } from '../../errors/naftiko-error.js'
import type { ExpressionScope } from '../../expressions/compile-value.js'
import type { Logger } from '../../server/logger.js'
import { buildInboundAuth } from '../auth/inbound-auth.js'
import { readOnlyServer, sendJson } from '../read-only-server.js'
import { describeSkill, skillMarkdown, summarizeSkill } from './skill-catalog.js'
import { contentTypeOf, SkillFiles } from './skill-files.js'
import { scrubFile } from '../served-files.js'

export interface SkillExposerOptions {
  logger: Logger
  /** a file that holds a bound secret never leaves as it is */
  redactor: Redactor
  /** the capability file: relative `location`s resolve against its folder */
  capabilityPath: string
  scope: ExpressionScope
}

interface ServedSkill {
  skill: Skill
  files: SkillFiles | undefined
  /** the location's own SKILL.md wins; else one written from the declaration */
  markdown: string
}

/** Files of a skill are shown, never run: a browser that opens one gets no script and no sniffing. */
const FILE_HEADERS = { 'x-content-type-options': 'nosniff', 'content-security-policy': "default-src 'none'; sandbox" }

/**
 * A `type: skill` expose: a read-only catalog of the capability's skills (docs/semantics.md,
 * "Skills"). `GET /skills`, `GET /skills/{name}`, `GET /skills/{name}/download` (a zip),
 * `GET /skills/{name}/contents` and `GET /skills/{name}/contents/{file}`. It calls no upstream.
 */
export async function buildSkillExposer (expose: SkillExpose, model: CapabilityModel, options: SkillExposerOptions): Promise<Server> {
  const log = options.logger.child({ expose: expose.namespace })
  const served = new Map<string, ServedSkill>()
  for (const skill of expose.skills) {
    const files = skill.location === undefined ? undefined : await SkillFiles.open(filePathOf(skill.location, options.capabilityPath))
    if (skill.location !== undefined && files === undefined) log.warn({ skill: skill.name, location: skill.location }, 'skill location is not a readable directory: the skill is served without files')
    const own = await files?.read('SKILL.md')
    served.set(skill.name, { skill, files, markdown: own?.toString('utf8') ?? skillMarkdown(skill, model) })
  }
  const list = { count: expose.skills.length, skills: expose.skills.map(summarizeSkill) }
  const details = new Map(expose.skills.map((s) => [s.name, describeSkill(s, model)]))
  const auth = buildInboundAuth(expose.authentication, options.scope)
  const scrub = scrubber(options.redactor)

  return readOnlyServer(auth?.check, log, async (path, _req, res) => {
    const parts = path.split('/').filter((p) => p !== '')
    if (parts[0] !== 'skills' && parts.length > 0) throw new NaftikoError('unknown_route', `No route for ${path}; the skill catalog is /skills.`)
    if (parts.length <= 1) return sendJson(res, 200, list)
    const name = decode(parts[1] as string)
    const skill = served.get(name)
    if (skill === undefined) throw new NaftikoError('not_found', `No skill named "${name}".`)
    if (parts.length === 2) return sendJson(res, 200, details.get(name))
    if (parts[2] === 'download' && parts.length === 3) return sendZip(res, skill, scrub)
    if (parts[2] !== 'contents') throw new NaftikoError('unknown_route', `No route for ${path}.`)
    if (parts.length === 3) return sendJson(res, 200, { skill: name, files: await filesOf(skill) })
    const file = parts.slice(3).map(decode).join('/')
    const read = file === 'SKILL.md' && skill.files === undefined ? Buffer.from(skill.markdown) : await skill.files?.read(file)
    const bytes = read === undefined ? undefined : scrub(file, read)
    if (bytes === undefined) throw new NaftikoError('not_found', `Skill "${name}" has no file ${file}${read === undefined ? '' : ' it can serve (it holds a credential of the gateway)'}.`)
    res.writeHead(200, { 'content-type': contentTypeOf(file), 'content-length': bytes.length, ...FILE_HEADERS })
    res.end(bytes)
  })
}

function decode (part: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    throw new NaftikoError('invalid_request', 'The path is not valid percent-encoding.')
  }
}

async function filesOf (skill: ServedSkill): Promise<Array<{ path: string, size: number }>> {
  const files = (await skill.files?.list()) ?? []
  if (files.some((f) => f.path === 'SKILL.md')) return files
  return [{ path: 'SKILL.md', size: Buffer.byteLength(skill.markdown) }, ...files]
}

/**
 * A file as it may leave: a text with a bound secret in it has it replaced, any other file that holds
 * one is withheld (undefined).
 */
function scrubber (redactor: Redactor): (path: string, bytes: Buffer) => Buffer | undefined {
  return (path, bytes) => {
    // a file without a secret leaves byte for byte
    if (!redactor.active || (!redactor.holds(bytes.toString('utf8')) && !redactor.holds(bytes.toString('latin1')))) return bytes
    const leaving = scrubFile(bytes, contentTypeOf(path), redactor)
    return leaving === undefined ? undefined : 'text' in leaving ? Buffer.from(leaving.text) : leaving.bytes
  }
}

/** The skill as a folder named after it: SKILL.md and every file of its location (as they may leave). */
async function sendZip (res: ServerResponse, skill: ServedSkill, scrub: (path: string, bytes: Buffer) => Buffer | undefined): Promise<void> {
  const entries: Record<string, Uint8Array> = {}
  const markdown = scrub('SKILL.md', Buffer.from(skill.markdown))
  if (markdown !== undefined) entries[`${skill.skill.name}/SKILL.md`] = markdown
  for (const { path } of (await skill.files?.list()) ?? []) {
    const read = await skill.files?.read(path)
    const bytes = read === undefined ? undefined : scrub(path, read)
    if (bytes !== undefined && path !== 'SKILL.md') entries[`${skill.skill.name}/${path}`] = bytes
  }
  const archive = await new Promise<Uint8Array>((resolve, reject) => zip(entries, { level: 6 }, (err, data) => err === null ? resolve(data) : reject(err)))
  res.writeHead(200, {
    'content-type': 'application/zip',
    'content-length': archive.length,
    'content-disposition': `attachment; filename="${skill.skill.name}.zip"`,
  })
  res.end(archive)
}
