// Every id of a store opened with preload: 'keys', kept as UTF-8 bytes in a few large arrays
// with an open-addressing hash table over them: ~20 bytes per id instead of a string, a cache
// entry and a Map entry (~120 bytes, and a million objects for the garbage collector to trace
// and move while the open fills them). Built once at open; ids are found by their bytes.

const INITIAL_IDS = 1024
const INITIAL_BYTES = 64 * 1024

export class IdIndex {
  #bytes = new Uint8Array(INITIAL_BYTES)
  #used = 0
  /** Per id: its offset in #bytes and its byte length. */
  #offsets = new Uint32Array(INITIAL_IDS)
  #lengths = new Uint32Array(INITIAL_IDS)
  #count = 0
  /** Open addressing: id number + 1 per slot, 0 for an empty slot; at most half full. */
  #table = new Int32Array(INITIAL_IDS * 2)
  #scratch = Buffer.allocUnsafe(1024)

  get count (): number {
    return this.#count
  }

  /** Adds an id given as UTF-8 bytes (ids are distinct: they are the keys of the store). */
  add (bytes: Uint8Array, start: number, end: number): void {
    const length = end - start
    if (this.#count === this.#offsets.length) this.#growIds()
    if (this.#used + length > this.#bytes.length) this.#growBytes(length)
    // Ids are short: a loop copies them without a view object per id.
    const target = this.#bytes
    const at = this.#used
    if (length <= 64) for (let i = 0; i < length; i++) target[at + i] = bytes[start + i]!
    else target.set(bytes.subarray(start, end), at)
    const index = this.#count++
    this.#offsets[index] = this.#used
    this.#lengths[index] = length
    this.#used += length
    if (this.#count * 2 > this.#table.length) this.#rehash(this.#table.length * 2)
    else this.#insert(index)
  }

  /** The number of `id`, or -1 when it is not one of them. */
  find (id: string): number {
    let scratch = this.#scratch
    if (id.length * 3 > scratch.length) {
      scratch = Buffer.allocUnsafe(id.length * 3)
      this.#scratch = scratch
    }
    const length = scratch.write(id, 0, 'utf8')
    const table = this.#table
    const mask = table.length - 1
    const bytes = this.#bytes
    for (let slot = hash(scratch, 0, length) & mask; ; slot = (slot + 1) & mask) {
      const entry = table[slot]!
      if (entry === 0) return -1
      const index = entry - 1
      if (this.#lengths[index] !== length) continue
      const offset = this.#offsets[index]!
      let i = 0
      while (i < length && bytes[offset + i] === scratch[i]) i++
      if (i === length) return index
    }
  }

  /** The id numbered `index`, as a fresh string. */
  id (index: number): string {
    const offset = this.#offsets[index]!
    return Buffer.from(this.#bytes.buffer, this.#bytes.byteOffset + offset, this.#lengths[index]!).toString('utf8')
  }

  #insert (index: number): void {
    const table = this.#table
    const mask = table.length - 1
    const offset = this.#offsets[index]!
    let slot = hash(this.#bytes, offset, offset + this.#lengths[index]!) & mask
    while (table[slot] !== 0) slot = (slot + 1) & mask
    table[slot] = index + 1
  }

  #rehash (size: number): void {
    this.#table = new Int32Array(size)
    for (let index = 0; index < this.#count; index++) this.#insert(index)
  }

  #growIds (): void {
    const size = this.#offsets.length * 2
    const offsets = new Uint32Array(size)
    offsets.set(this.#offsets)
    const lengths = new Uint32Array(size)
    lengths.set(this.#lengths)
    this.#offsets = offsets
    this.#lengths = lengths
  }

  #growBytes (needed: number): void {
    const bytes = new Uint8Array(Math.max(this.#bytes.length * 2, this.#used + needed))
    bytes.set(this.#bytes.subarray(0, this.#used))
    this.#bytes = bytes
  }
}

/** FNV-1a over bytes[start, end). */
function hash (bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193)
  return h >>> 0
}
