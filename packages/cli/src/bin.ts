#!/usr/bin/env node
import { runCli } from './program.js'

// `runnel subscribe | head -1`: the reader went away, which ends the command, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0)
  throw err
})

process.exitCode = await runCli(process.argv)
