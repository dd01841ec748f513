// Entry point of the `flowstore` command (bin/flowstore.js runs this, built or from source).

import { runCli } from './cli.ts'

// A reader that closes standard output early (`flowstore list … | head`) makes writes to it
// fail with EPIPE. The 'error' event is only kept from crashing the process: the command
// decides. A backup or export streamed to "-" gets the failure from its write and fails
// (FLOWSTORE_IO_ERROR, exit 1: the output is incomplete); a listing whose end nobody read
// finishes as usual.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') return
  throw err
})

process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env })
