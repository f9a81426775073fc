import { readdir, readFile, stat } from 'node:fs/promises'
import { join, relative, resolve, sep } from 'node:path'

const YAML = /\.ya?ml$/i
const SKIPPED = new Set(['node_modules', '.git', 'dist'])

/**
 * The files named on the command line: a file as it is; a directory, every `.yaml`/`.yml` file below
 * it; a glob (`capabilities/**\/*.yaml`, `*.yml`), the files it matches, so that it works whatever the
 * shell does with the pattern. A name that matches nothing is kept, for the reader to report.
 */
export async function expandFileArguments (args: readonly string[]): Promise<string[]> {
  const files: string[] = []
  for (const arg of args) {
    if (/[*?[]/.test(arg)) {
      const matched = await matchGlob(arg)
      files.push(...(matched.length === 0 ? [arg] : matched))
      continue
    }
    const info = await stat(arg).catch(() => undefined)
    files.push(...(info?.isDirectory() === true ? await yamlBelow(arg) : [arg]))
  }
  return files
}

/** The capability files of a directory (YAML files with a root `capability:`), for `run DIR`. */
export async function capabilitiesIn (dir: string): Promise<string[]> {
  const found: string[] = []
  for (const file of await yamlBelow(dir)) {
    const text = await readFile(file, 'utf8').catch(() => '')
    if (/^naftiko:/m.test(text) && /^capability:/m.test(text)) found.push(file)
  }
  return found
}

async function yamlBelow (dir: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (at: string): Promise<void> => {
    const entries = await readdir(at, { withFileTypes: true }).catch(() => [])
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isDirectory()) {
        if (!SKIPPED.has(e.name)) await walk(join(at, e.name))
      } else if (YAML.test(e.name)) {
        out.push(join(at, e.name))
      }
    }
  }
  await walk(dir)
  return out
}

/** `*` within a name, `**` across directories, `?` one character; walked from the pattern's fixed start. */
async function matchGlob (pattern: string): Promise<string[]> {
  const parts = pattern.split(/[\\/]/)
  const fixed: string[] = []
  while (parts.length > 1 && !/[*?[]/.test(parts[0] as string)) fixed.push(parts.shift() as string)
  const base = fixed.length === 0 ? '.' : fixed.join(sep) || sep
  let source = ''
  parts.forEach((p, i) => {
    if (p === '**') source += i === parts.length - 1 ? '.*' : '(?:[^/]+/)*'
    else source += globPart(p) + (i === parts.length - 1 ? '' : '/')
  })
  const regex = new RegExp(`^${source}$`)
  const files: string[] = []
  const walk = async (at: string): Promise<void> => {
    const entries = await readdir(at, { withFileTypes: true }).catch(() => [])
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const full = join(at, e.name)
      if (e.isDirectory()) {
        if (!SKIPPED.has(e.name)) await walk(full)
      } else if (regex.test(relative(resolve(base), resolve(full)).split(sep).join('/'))) {
        files.push(full)
      }
    }
  }
  await walk(base)
  return files
}

function globPart (part: string): string {
  return part.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')
}
