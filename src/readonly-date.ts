// Dates handed out by the store. Object.freeze does not stop Date setters (they change an
// internal slot), so a date read from the store gets a prototype whose setters throw. It is
// still `instanceof Date`, its `constructor` is still `Date`, and it compares equal to the
// date that was saved.

const SETTERS = [
  'setDate', 'setFullYear', 'setHours', 'setMilliseconds', 'setMinutes', 'setMonth', 'setSeconds',
  'setTime', 'setUTCDate', 'setUTCFullYear', 'setUTCHours', 'setUTCMilliseconds', 'setUTCMinutes',
  'setUTCMonth', 'setUTCSeconds', 'setYear'
] as const

function refuse (name: string): () => never {
  return function () {
    throw new TypeError(`Cannot call ${name}() on a Date read from flowstore: it is frozen. Copy it first: new Date(date)`)
  }
}

const descriptors: PropertyDescriptorMap = { constructor: { value: Date } }
for (const name of SETTERS) descriptors[name] = { value: refuse(name) }

/** The prototype of every Date handed out by a store. Immutable. */
export const READONLY_DATE_PROTOTYPE: object = Object.freeze(Object.create(Date.prototype, descriptors))

/** Makes `date` read-only in place (see above). */
export function freezeDate (date: Date): void {
  Object.setPrototypeOf(date, READONLY_DATE_PROTOTYPE)
  Object.freeze(date)
}
