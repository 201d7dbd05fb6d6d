#!/usr/bin/env node
// npm links a workspace's bins before `npm install` runs the build that writes dist/, and it skips a bin whose target
// does not exist yet: this launcher is in git, so the `runnel` link exists right after the first install of a clone.
import { existsSync } from 'node:fs'

const entry = new URL('../dist/bin.js', import.meta.url)
if (!existsSync(entry)) {
  process.stderr.write('runnel: the CLI is not built yet: run `npm run build` in the repository root\n')
  process.exit(1)
}
await import(entry.href)
