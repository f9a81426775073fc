import { watch, type FSWatcher } from 'node:fs'
import path from 'node:path'

/**
 * Calls `changed(file)` once a file stops changing for `settleMs`. Editors often save by writing a
 * new file and renaming it over the old one, which ends a watch on the file itself: the folder is
 * watched and its events are filtered by name. Returns a function that stops watching.
 */
export function watchFiles (files: readonly string[], changed: (file: string) => void, settleMs = 200): () => void {
  const watched = new Map(files.map((f) => [path.resolve(f), f]))
  const timers = new Map<string, NodeJS.Timeout>()
  const watchers: FSWatcher[] = []
  for (const dir of new Set([...watched.keys()].map((f) => path.dirname(f)))) {
    const watcher = watch(dir, (_event, name) => {
      if (name === null) return
      const file = watched.get(path.join(dir, name.toString()))
      if (file === undefined) return
      clearTimeout(timers.get(file))
      timers.set(file, setTimeout(() => {
        timers.delete(file)
        changed(file)
      }, settleMs))
    })
    watcher.unref()
    watchers.push(watcher)
  }
  return () => {
    for (const w of watchers) w.close()
    for (const t of timers.values()) clearTimeout(t)
  }
}
