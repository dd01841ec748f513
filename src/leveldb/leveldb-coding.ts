// Little readers and writers of LevelDB's encodings: varints, fixed 32-bit little-endian
// integers, length-prefixed slices. Every read is bounds-checked (FormatError), so damaged
// bytes give an error, never a read past the end.

export class FormatError extends Error {}

export class Cursor {
  pos: number
  constructor (readonly bytes: Uint8Array, pos = 0, readonly end = bytes.length) {
    this.pos = pos
  }

  get done (): boolean {
    return this.pos >= this.end
  }

  varint (): number {
    let value = 0
    for (let shift = 0; ; shift += 7) {
      if (this.pos >= this.end || shift > 63) throw new FormatError('bad varint')
      const byte = this.bytes[this.pos++]!
      value += (byte & 0x7f) * 2 ** shift
      if (byte < 0x80) return value
    }
  }

  slice (length: number): Uint8Array {
    if (length > this.end - this.pos) throw new FormatError('length out of bounds')
    const out = this.bytes.subarray(this.pos, this.pos + length)
    this.pos += length
    return out
  }

  lengthPrefixed (): Uint8Array {
    return this.slice(this.varint())
  }
}

export function u32 (bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0
}

/** Appends `value` as a varint. */
export function putVarint (out: number[], value: number): void {
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80)
    value = Math.floor(value / 0x80)
  }
  out.push(value)
}
