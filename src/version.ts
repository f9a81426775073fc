import { readFileSync } from 'node:fs'

/** The package's version, as `--version` prints it and MCP servers announce it. */
export const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
