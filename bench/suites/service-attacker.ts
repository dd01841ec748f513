// Child process of the service-attack suite: attacks the owner socket in argv[2] while the
// suite measures a client's saves. Stdin: "start <attack>" starts one, "stop" ends it (every
// socket destroyed); stdout: "started <attack>" once it is in effect, "stopped".
//
//   stalled   40 connections, each says hello, sends 8 MiB of a message announced at 60 MiB
//             and stops; a connection the owner closes comes back and does it again.
//   idle      1,000 connections that send nothing; a refused or closed one comes back at once.
//   random    8 connections writing random bytes and random MessagePack values, one frame
//             per turn of the event loop; a closed one comes back at once.
//   spin      no connection: keeps one core busy (the control: what any busy process on the
//             machine costs the client, whatever it does to the socket).

import { randomBytes, randomInt } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { createInterface } from 'node:readline'
import { Packr } from 'msgpackr'

const path = process.argv[2]!
const packr = new Packr({ useRecords: false })
const HELLO = packr.pack({ id: 1, op: 'hello', protocol: 1 })
const MIB = 1024 * 1024
const CHUNK = new Uint8Array(64 * 1024)

type Attack = 'stalled' | 'idle' | 'random' | 'spin'

let running: { attack: Attack, sockets: Set<Socket>, stopped: boolean } | undefined

/** Keeps one attacking connection alive: `open` is called again whenever it closes. */
function loop (state: NonNullable<typeof running>, open: (socket: Socket, ready: () => void) => void, ready: () => void): void {
  if (state.stopped) return
  const socket = connect(path)
  state.sockets.add(socket)
  let readied = false
  const once = (): void => {
    if (readied) return
    readied = true
    ready()
  }
  socket.on('error', () => {})
  socket.on('data', () => {})
  socket.once('connect', () => { open(socket, once) })
  socket.once('close', () => {
    state.sockets.delete(socket)
    once()
    setImmediate(() => { loop(state, open, () => {}) })
  })
}

function stalled (socket: Socket, ready: () => void): void {
  socket.write(HELLO)
  // A bin 32 header announcing 60 MiB, then 8 MiB of it.
  socket.write(Uint8Array.of(0xc6, 0x03, 0xc0, 0x00, 0x00))
  // In effect once it started sending: the owner may stop reading it (no room left), and
  // then its writes wait in the socket.
  ready()
  let sent = 0
  const more = (): void => {
    while (sent < 8 * MIB) {
      sent += CHUNK.length
      if (!socket.write(CHUNK)) {
        socket.once('drain', more)
        return
      }
    }
  }
  more()
}

function idle (_socket: Socket, ready: () => void): void {
  ready()
}

function random (socket: Socket, ready: () => void): void {
  const next = (): void => {
    if (socket.destroyed) return
    const frame = randomInt(3) === 0
      ? randomBytes(randomInt(1, 512))
      : packr.pack({ id: randomInt(100), op: ['hello', 'save', 'version', 'load-all', 'x'][randomInt(5)], flows: [[String(randomInt(1000)), randomBytes(randomInt(64))]], junk: randomBytes(randomInt(32)).toString('hex') })
    socket.write(frame)
    ready()
    setImmediate(next)
  }
  next()
}

const ATTACKS: Record<Exclude<Attack, 'spin'>, { connections: number, open: (socket: Socket, ready: () => void) => void }> = {
  stalled: { connections: 40, open: stalled },
  idle: { connections: 1000, open: idle },
  random: { connections: 8, open: random }
}

/** Busy for 10 ms at a time, giving the event loop a turn in between (to read "stop"). */
function spin (state: NonNullable<typeof running>): void {
  if (state.stopped) return
  const until = performance.now() + 10
  while (performance.now() < until) { /* busy */ }
  setImmediate(() => { spin(state) })
}

for await (const line of createInterface({ input: process.stdin })) {
  const [command, name] = line.split(' ')
  if (command === 'start' && running === undefined && name === 'spin') {
    running = { attack: 'spin', sockets: new Set<Socket>(), stopped: false }
    spin(running)
    process.stdout.write('started spin\n')
  } else if (command === 'start' && running === undefined && name !== undefined && name in ATTACKS) {
    const attack = name as Exclude<Attack, 'spin'>
    const state = { attack, sockets: new Set<Socket>(), stopped: false }
    running = state
    const { connections, open } = ATTACKS[attack]
    await Promise.all(Array.from({ length: connections }, async () => { await new Promise<void>((resolve) => { loop(state, open, resolve) }) }))
    process.stdout.write(`started ${attack}\n`)
  } else if (command === 'stop' && running !== undefined) {
    running.stopped = true
    for (const socket of running.sockets) socket.destroy()
    running = undefined
    process.stdout.write('stopped\n')
  }
}
