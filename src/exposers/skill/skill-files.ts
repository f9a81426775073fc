import { lstat, readdir, readFile, realpath } from 'node:fs/promises'
import { isAbsolute, join, relative, sep } from 'node:path'
import { isInside, mimeTypeOf } from '../served-files.js'

/**
 * The files of a skill's `location` directory, never anything outside it: a requested path with a
 * `..` segment, an absolute path, a NUL byte, or a symbolic link that leads out of the directory is
 * refused as if the file did not exist.
 */
export class SkillFiles {
  private constructor (private readonly root: string) {}

  /** undefined when the directory does not exist (the skill is then served without files) */
  static async open (dir: string): Promise<SkillFiles | undefined> {
    try {
      const root = await realpath(dir)
      return (await lstat(root)).isDirectory() ? new SkillFiles(root) : undefined
    } catch {
      return undefined
    }
  }

  /** Every regular file, as paths relative to the directory with `/` separators, sorted. */
  async list (): Promise<Array<{ path: string, size: number }>> {
    const found: Array<{ path: string, size: number }> = []
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const full = join(dir, entry.name)
        const inside = await this.resolveInside(full)
        if (inside === undefined) continue
        const stat = await lstat(inside)
        if (stat.isDirectory()) await walk(inside)
        else if (stat.isFile()) found.push({ path: relative(this.root, full).split(sep).join('/'), size: stat.size })
      }
    }
    await walk(this.root)
    return found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  }

  /** A file's bytes, or undefined when it is not a regular file inside the directory. */
  async read (path: string): Promise<Buffer | undefined> {
    if (path === '' || path.includes('\0') || isAbsolute(path) || path.split(/[\\/]/).some((s) => s === '..')) return undefined
    const inside = await this.resolveInside(join(this.root, path))
    if (inside === undefined) return undefined
    try {
      return (await lstat(inside)).isFile() ? await readFile(inside) : undefined
    } catch {
      return undefined
    }
  }

  private async resolveInside (path: string): Promise<string | undefined> {
    try {
      const real = await realpath(path)
      return isInside(real, this.root) ? real : undefined
    } catch {
      return undefined
    }
  }
}

/** The content type of a file by its extension: text with its charset; unknown ones are bytes. */
export function contentTypeOf (path: string): string {
  const type = mimeTypeOf(path)
  return type.startsWith('text/') ? `${type}; charset=utf-8` : type
}
