// Node-RED flow arrays with realistic node shapes (core nodes, as the editor exports them),
// in the editor's order: tabs, subflows, groups, config nodes, then the nodes. Used by the
// Node-RED tests and benchmark. Deterministic: the same arguments give the same array.

export interface GeneratedFlowsOptions {
  readonly tabs: number
  /** Nodes per tab, besides the tab itself and its group. @default 20 */
  readonly nodesPerTab?: number
  /** A prefix for every id, so that two arrays never share ids. @default '' */
  readonly prefix?: string
}

type Node = Record<string, unknown> & { id: string, type: string }

/** The id of tab `index` (0-based). */
export function tabId (index: number, prefix = ''): string {
  return `${prefix}tab${String(index).padStart(4, '0')}`
}

export function generateNodeRedFlows (options: GeneratedFlowsOptions): Node[] {
  const { tabs, nodesPerTab = 20, prefix = '' } = options
  const tabNodes: Node[] = []
  const groups: Node[] = []
  const nodes: Node[] = []
  const subflowId = `${prefix}sf-format`
  const subflow: Node[] = [
    { id: subflowId, type: 'subflow', name: 'format reading', info: 'Rounds and labels a sensor reading.', category: '', in: [{ x: 60, y: 80, wires: [{ id: `${subflowId}-fn` }] }], out: [{ x: 420, y: 80, wires: [{ id: `${subflowId}-fn`, port: 0 }] }], env: [{ name: 'DIGITS', type: 'num', value: '2' }], meta: {}, color: '#DDAA99' },
    { id: `${subflowId}-fn`, type: 'function', z: subflowId, name: 'round', func: 'const digits = Number(env.get("DIGITS"));\nmsg.payload = Number(msg.payload).toFixed(digits);\nreturn msg;', outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], x: 240, y: 80, wires: [[]] }
  ]
  const config: Node[] = [
    { id: `${prefix}cfg-global`, type: 'global-config', env: [{ name: 'SITE', value: 'plant-7', type: 'str' }], modules: {} }
  ]
  for (let t = 0; t < tabs; t++) {
    const z = tabId(t, prefix)
    tabNodes.push({ id: z, type: 'tab', label: `Line ${t + 1}`, disabled: false, info: `Production line ${t + 1}: readings, alarms and the shift report.`, env: [] })
    const ids = Array.from({ length: nodesPerTab }, (_, i) => `${z}-n${i}`)
    groups.push({ id: `${z}-g`, type: 'group', z, name: 'Readings', style: { label: true, stroke: '#3f93cf', fill: '#e3f3d3' }, nodes: ids.slice(0, 4), x: 34, y: 39, w: 712, h: 122 })
    for (let i = 0; i < nodesPerTab; i++) nodes.push(nodeOf(z, ids, i, subflowId))
  }
  return [...tabNodes, ...subflow.slice(0, 1), ...groups, ...config, ...subflow.slice(1), ...nodes]
}

/** A copy of `flows` with one node of tab `index` changed, differently for each `round`. */
export function changeOneTab (flows: readonly Node[], index: number, round: number, prefix = ''): Node[] {
  const z = tabId(index, prefix)
  let done = false
  return flows.map((node) => {
    if (done || node.z !== z || node.type !== 'function') return node
    done = true
    return { ...node, name: `scale (revision ${round})`, func: `${String(node.func)}\n// revision ${round}` }
  })
}

function nodeOf (z: string, ids: readonly string[], i: number, subflowId: string): Node {
  const id = ids[i]!
  const next = i + 1 < ids.length ? [[ids[i + 1]]] : [[]]
  const x = 120 + (i % 6) * 180
  const y = 80 + Math.floor(i / 6) * 80
  const group = i < 4 ? { g: `${z}-g` } : {}
  switch (i % 10) {
    case 0:
      return { id, type: 'inject', z, ...group, name: 'every reading', props: [{ p: 'payload' }, { p: 'topic', vt: 'str' }], repeat: '', crontab: '', once: false, onceDelay: 0.1, topic: `${z}/reading`, payload: '', payloadType: 'date', x, y, wires: next }
    case 1:
      return { id, type: 'function', z, ...group, name: 'scale', func: 'const raw = msg.payload;\nconst scaled = (raw % 1000) / 10;\nmsg.payload = { value: scaled, unit: "°C", at: Date.now() };\nif (scaled > 80) {\n    node.status({ fill: "red", shape: "dot", text: "hot" });\n}\nreturn msg;', outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], x, y, wires: next }
    case 2:
      return { id, type: 'switch', z, ...group, name: 'alarm?', property: 'payload.value', propertyType: 'msg', rules: [{ t: 'gt', v: '80', vt: 'num' }, { t: 'else' }], checkall: 'true', repair: false, outputs: 2, x, y, wires: [next[0]!, []] }
    case 3:
      return { id, type: 'change', z, ...group, name: 'label', rules: [{ t: 'set', p: 'topic', pt: 'msg', to: 'alarm', tot: 'str' }, { t: 'move', p: 'payload.value', pt: 'msg', to: 'value', tot: 'msg' }], action: '', property: '', from: '', to: '', reg: false, x, y, wires: next }
    case 4:
      return { id, type: `subflow:${subflowId}`, z, name: '', env: [{ name: 'DIGITS', value: '1', type: 'num' }], x, y, wires: next }
    case 5:
      return { id, type: 'template', z, name: 'report line', field: 'payload', fieldType: 'msg', format: 'handlebars', syntax: 'mustache', template: '{{topic}}: {{payload.value}} {{payload.unit}} at {{payload.at}}', output: 'str', x, y, wires: next }
    case 6:
      return { id, type: 'delay', z, name: 'rate limit', pauseType: 'rate', timeout: '5', timeoutUnits: 'seconds', rate: '1', nbRateUnits: '1', rateUnits: 'second', randomFirst: '1', randomLast: '5', randomUnits: 'seconds', drop: true, allowrate: false, outputs: 1, x, y, wires: next }
    case 7:
      return { id, type: 'json', z, name: '', property: 'payload', action: '', pretty: false, x, y, wires: next }
    case 8:
      return { id, type: 'comment', z, name: 'Alarm thresholds', info: 'Raised above 80 °C; see the maintenance manual, section 4.2.', x, y, wires: [] }
    default:
      return { id, type: 'debug', z, name: 'log', active: false, tosidebar: true, console: false, tostatus: false, complete: 'payload', targetType: 'msg', statusVal: '', statusType: 'auto', x, y, wires: [] }
  }
}

export interface HttpTabOptions {
  /** The tab's id (and the prefix of its nodes' ids). */
  readonly id: string
  /** What GET /api/<id>/hello answers. */
  readonly answer: string
  /**
   * Credentials for an `http request` node with basic auth: GET /api/<id>/check then
   * answers with the Authorization header that node sent (to /api/<id>/echo): the
   * credentials, decrypted by the runtime, in use.
   */
  readonly credentials?: { readonly user: string, readonly password: string }
}

/**
 * A tab of HTTP endpoints under /api/<id>/: `hello` answers `answer`; with `credentials`,
 * `check` makes an authenticated request to `echo` and answers with the Authorization
 * header it got. The http request node carries `credentials` as the editor sends them.
 */
export function httpTab (options: HttpTabOptions): Node[] {
  const { id, answer, credentials } = options
  const nodes: Node[] = [
    { id, type: 'tab', label: `HTTP ${id}`, disabled: false, info: '', env: [] },
    { id: `${id}-hello-in`, type: 'http in', z: id, name: '', url: `/${id}/hello`, method: 'get', upload: false, swaggerDoc: '', x: 120, y: 60, wires: [[`${id}-hello-set`]] },
    { id: `${id}-hello-set`, type: 'change', z: id, name: '', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: answer, tot: 'str' }], action: '', property: '', from: '', to: '', reg: false, x: 320, y: 60, wires: [[`${id}-hello-out`]] },
    { id: `${id}-hello-out`, type: 'http response', z: id, name: '', statusCode: '', headers: {}, x: 520, y: 60, wires: [] }
  ]
  if (credentials === undefined) return nodes
  return [
    ...nodes,
    { id: `${id}-echo-in`, type: 'http in', z: id, name: '', url: `/${id}/echo`, method: 'get', upload: false, swaggerDoc: '', x: 120, y: 140, wires: [[`${id}-echo-fn`]] },
    { id: `${id}-echo-fn`, type: 'function', z: id, name: 'authorization', func: 'msg.payload = msg.req.headers.authorization || "none";\nreturn msg;', outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], x: 320, y: 140, wires: [[`${id}-echo-out`]] },
    { id: `${id}-echo-out`, type: 'http response', z: id, name: '', statusCode: '', headers: {}, x: 520, y: 140, wires: [] },
    { id: `${id}-check-in`, type: 'http in', z: id, name: '', url: `/${id}/check`, method: 'get', upload: false, swaggerDoc: '', x: 120, y: 220, wires: [[`${id}-check-url`]] },
    { id: `${id}-check-url`, type: 'function', z: id, name: 'echo url', func: `msg.url = "http://" + msg.req.headers.host + "/api/${id}/echo";\nmsg.payload = "";\ndelete msg.headers;\nreturn msg;`, outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], x: 320, y: 220, wires: [[`${id}-check-request`]] },
    { id: `${id}-check-request`, type: 'http request', z: id, name: 'authenticated', method: 'GET', ret: 'txt', paytoqs: 'ignore', url: '', tls: '', persist: false, proxy: '', insecureHTTPParser: false, authType: 'basic', senderr: false, headers: [], x: 520, y: 220, wires: [[`${id}-check-out`]], credentials: { user: credentials.user, password: credentials.password } },
    { id: `${id}-check-out`, type: 'http response', z: id, name: '', statusCode: '', headers: {}, x: 720, y: 220, wires: [] }
  ]
}

/** `flows` as the runtime keeps and returns them: without the credentials the editor sent. */
export function withoutCredentials (flows: readonly Node[]): Node[] {
  return flows.map((node) => {
    if (!Object.hasOwn(node, 'credentials')) return node
    const { credentials, ...rest } = node
    void credentials
    return rest as Node
  })
}

/** The Authorization header basic-auth credentials make. */
export function basicAuth (user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
}
