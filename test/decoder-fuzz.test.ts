// Fuzzing the stored-value decoder (fast-check, in a child process: test/fixtures/
// decoder-fuzz.ts says what each case must satisfy). The child runs with a deadline per case:
// a decode that does not return (an exponential walk, a loop) fails this test naming the input,
// instead of blocking the test runner. The runs are seeded, so the suite is deterministic;
// FUZZ_SEED=random explores new inputs (a failure prints the seed and the shrunk input).

import { afterEach, expect, it } from 'vitest'
import { killChildren, startChild } from './fixtures/child.ts'

afterEach(killChildren)

const SEED = process.env.FUZZ_SEED ?? '20261201'
const RUNS = 2000
/** Per case, generous for a loaded machine: a case takes microseconds to milliseconds. */
const CASE_DEADLINE_MS = 20_000

it('the decoder returns a frozen tree of at most one value per byte or throws FLOWSTORE_DECODE_ERROR, for every input, and pollutes no prototype', async () => {
  const child = startChild('decoder-fuzz.ts', String(RUNS), SEED)
  let lastCase = '(none)'
  let hung = false
  let deadline: NodeJS.Timeout | undefined
  const arm = (): void => {
    clearTimeout(deadline)
    deadline = setTimeout(() => { hung = true; child.kill() }, CASE_DEADLINE_MS)
  }
  arm()
  child.onLine((line) => {
    if (line.startsWith('case ')) lastCase = line
    arm()
  })
  try {
    await child.exited
  } finally {
    clearTimeout(deadline)
  }
  expect(hung, `a case did not finish within ${CASE_DEADLINE_MS} ms (the decode hangs); its input: ${lastCase}`).toBe(false)
  const result = child.lines.at(-1)
  expect(result?.startsWith('{'), `the child printed no result; stderr:\n${child.stderr}`).toBe(true)
  const parsed = JSON.parse(result!) as { ok: boolean, runs?: number, decoded?: number, refused?: number, report?: string }
  expect(parsed.ok, parsed.report).toBe(true)
  expect(parsed.runs).toBe(RUNS)
  // Both outcomes are exercised, not just refusals.
  expect(parsed.decoded).toBeGreaterThan(RUNS / 10)
  expect(parsed.refused).toBeGreaterThan(RUNS / 10)
})
