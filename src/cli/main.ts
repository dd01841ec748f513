// Entry point of the `flowstore` command (bin/flowstore.js runs this, built or from source).

import { runCli } from './cli.ts'

// `flowstore list … | head` closes stdout early: that is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0)
  throw err
})

process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env })
