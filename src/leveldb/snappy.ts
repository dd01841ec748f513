// Snappy decompression (the raw format LevelDB uses for compressed table blocks), needed to
// read the index and meta-index blocks of a table file when verifying it. Every length and
// offset is checked against the input and the announced output size, so damaged bytes give
// an error, never a read out of bounds or an oversized allocation.

export class SnappyError extends Error {}

/** Decompresses `input`; the output may not exceed `maxLength` bytes. */
export function snappyUncompress (input: Uint8Array, maxLength: number): Uint8Array {
  let pos = 0
  let length = 0
  for (let shift = 0; ; shift += 7) {
    if (pos >= input.length || shift > 28) throw new SnappyError('bad length header')
    const byte = input[pos++]!
    length += (byte & 0x7f) * 2 ** shift
    if (byte < 0x80) break
  }
  if (length > maxLength) throw new SnappyError(`announces ${length} bytes, more than the limit of ${maxLength}`)
  const out = new Uint8Array(length)
  let o = 0
  while (pos < input.length) {
    const tag = input[pos++]!
    let n: number
    let offset: number
    switch (tag & 3) {
      case 0: {
        n = tag >>> 2
        if (n >= 60) {
          const bytes = n - 59
          if (pos + bytes > input.length) throw new SnappyError('truncated literal length')
          n = 0
          for (let i = 0; i < bytes; i++) n += input[pos + i]! * 2 ** (8 * i)
          pos += bytes
        }
        n += 1
        if (pos + n > input.length || o + n > length) throw new SnappyError('literal out of bounds')
        out.set(input.subarray(pos, pos + n), o)
        pos += n
        o += n
        continue
      }
      case 1:
        if (pos + 1 > input.length) throw new SnappyError('truncated copy')
        n = ((tag >>> 2) & 7) + 4
        offset = ((tag >>> 5) << 8) | input[pos]!
        pos += 1
        break
      case 2:
        if (pos + 2 > input.length) throw new SnappyError('truncated copy')
        n = (tag >>> 2) + 1
        offset = input[pos]! | (input[pos + 1]! << 8)
        pos += 2
        break
      default:
        if (pos + 4 > input.length) throw new SnappyError('truncated copy')
        n = (tag >>> 2) + 1
        offset = (input[pos]! | (input[pos + 1]! << 8) | (input[pos + 2]! << 16) | (input[pos + 3]! << 24)) >>> 0
        pos += 4
    }
    if (offset === 0 || offset > o || o + n > length) throw new SnappyError('copy out of bounds')
    for (let i = 0; i < n; i++, o++) out[o] = out[o - offset]!
  }
  if (o !== length) throw new SnappyError(`decodes to ${o} bytes, not the ${length} announced`)
  return out
}
