// A promise with its resolve and reject, already marked handled: a caller who never awaits a
// save must not get an unhandled rejection (the failure stays visible through flush/close).

export class Deferred {
  readonly promise: Promise<void>
  resolve!: () => void
  reject!: (err: unknown) => void

  constructor () {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    this.promise.catch(noop)
  }
}

export function noop (): void {}
