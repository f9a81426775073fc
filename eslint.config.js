import neostandard, { resolveIgnoresFromGitignore } from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: resolveIgnoresFromGitignore(),
  }),
  {
    rules: {
      // a `void promise` statement marks a deliberate fire-and-forget call (the TypeScript idiom)
      'no-void': ['error', { allowAsStatement: true }],
    },
  },
]
