// "Did you mean": the known names closest to a mistyped command or option, by edit distance
// (a swap of two neighbouring letters counts as one edit), so a typo gets a hint and a word
// that resembles nothing gets none.

/** Known names within a few edits of `typed` (the closest first; at most two). */
export function closest (typed: string, known: readonly string[]): string[] {
  const limit = Math.max(1, Math.min(3, Math.floor(typed.length / 3)))
  const scored = known
    .map((name) => ({ name, distance: distance(typed.toLowerCase(), name.toLowerCase()) }))
    .filter(({ name, distance }) => distance <= limit || (typed.length >= 3 && name.startsWith(typed)))
    .sort((a, b) => a.distance - b.distance)
  return scored.slice(0, 2).map(({ name }) => name)
}

/** `; did you mean "x"?` (or `"x" or "y"`), or '' when nothing is close. */
export function didYouMean (typed: string, known: readonly string[], format: (name: string) => string = (name) => name): string {
  const names = closest(typed, known)
  return names.length === 0 ? '' : `; did you mean ${names.map((name) => JSON.stringify(format(name))).join(' or ')}?`
}

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
export function distance (a: string, b: string): number {
  const rows = a.length + 1
  const cols = b.length + 1
  const d: number[] = new Array<number>(rows * cols).fill(0)
  for (let i = 0; i < rows; i++) d[i * cols] = i
  for (let j = 0; j < cols; j++) d[j] = j
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(d[(i - 1) * cols + j]! + 1, d[i * cols + j - 1]! + 1, d[(i - 1) * cols + j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[(i - 2) * cols + j - 2]! + 1)
      d[i * cols + j] = best
    }
  }
  return d[rows * cols - 1]!
}
