/**
 * A fake of the two upstream APIs the official tutorial consumes
 * (`../shared/corpus/naftiko-alpha2/src/main/resources/tutorial/`), on one node:http server on
 * 127.0.0.1, port 0, under the same base paths the tutorial's `baseUri`s name, so that a test gives
 * `--base-uri registry=<origin><REGISTRY_PATH>` and `--base-uri legacy=<origin><DOCKYARD_PATH>`.
 *
 * Maritime registry (JSON), from shared/step11-registry-consumes.yml (the superset of the other
 * registry-consumes files) and step-2's inline consumes:
 *   GET  /ships?status=        a list of ship summaries: imo_number, vessel_name, vessel_type,
 *                              flag_code, operational_status (the `mapping: "$.x"` of every
 *                              list-ships tool and route); `status` filters on operational_status
 *   GET  /ships/{imo_number}   one ship: the summary plus year_built, gross_tonnage,
 *                              dimensions.length_overall (step 4's `specs`) and assignedCrew, the crew
 *                              ids step 7's lookup reads (`lookupValue: "$.get-ship.assignedCrew"`)
 *   POST /voyages              the create-voyage body template (shipImo, departurePort, arrivalPort,
 *                              departureDate, arrivalDate, crewIds, cargoIds), answered 201 with it
 *                              and voyageId and status (step 6's output mapping). The arrays are
 *                              echoed as the real API would (step 6's note says the hosted mock
 *                              answers static ones); cargoIds null or absent is no cargo; a body
 *                              that is not JSON is 400, an unknown ship, crew or cargo id 422
 *   GET  /voyages/{voyageId}   a stored voyage (step 11's get-voyage; VOY-2026-001 is seeded)
 *   GET  /crew                 crewId, fullName, role (step 7's lookup: `match: crewId`, outputs
 *                              fullName and role), plus nationality and assignedShip
 *   GET  /cargo                cargoId, type, description, weight, hazardous (step 11's lookup)
 *   Credentials (shared/*registry-consumes*): `Authorization: Bearer <token>` and a
 *   `Registry-Version` header, the values of shared/secrets.yaml (registry-bearer-token,
 *   registry-api-version). A missing or wrong token gets 401 with a `WWW-Authenticate: Bearer`
 *   challenge, a missing or wrong version 400; `registry: false` checks neither (step 2 sends none).
 *
 * Legacy dockyard (XML), from shared/legacy-consumes.yaml (`outputRawFormat: xml`):
 *   GET  /vessels?status=      `<vessels><vessel>` elements with vesselCode, vesselName, category,
 *                              flagState, operationalStatus (the `mapping: "$.vessel"` items of
 *                              list-legacy-vessels); statuses active, laid_up, scrapped (the tool's
 *                              description)
 *   Credential: the `X-Dock-Key` header, secrets.yaml's dockyard-api-key; missing or wrong: 401.
 *
 * The data is consistent across both: every assignedCrew and voyage crew id is in /crew, every
 * voyage cargo id in /cargo, every voyage's shipImo in /ships. Every request is recorded.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import { once } from 'node:events'

export const REGISTRY_PATH = '/rest/naftiko-shipyard-maritime-registry-api/1.0.0-alpha2'
export const DOCKYARD_PATH = '/rest/naftiko-shipyard-legacy-dockyard-api/1.0.0-alpha2'

export interface Ship {
  imo_number: string
  vessel_name: string
  vessel_type: string
  flag_code: string
  operational_status: string
  year_built: number
  gross_tonnage: number
  dimensions: { length_overall: number, beam: number, draft: number }
  assignedCrew: string[]
}
export interface CrewMember { crewId: string, fullName: string, role: string, nationality: string, assignedShip: string | null }
export interface CargoItem { cargoId: string, type: string, description: string, weight: number, hazardous: boolean }
export interface Voyage {
  voyageId: string
  shipImo: string
  departurePort: string
  arrivalPort: string
  departureDate: string
  arrivalDate: string
  crewIds: string[]
  cargoIds: string[]
  status: string
}
export interface LegacyVessel { vesselCode: string, vesselName: string, category: string, flagState: string, operationalStatus: string }

export const SHIPS: readonly Ship[] = [
  { imo_number: 'IMO9321483', vessel_name: 'Northern Star', vessel_type: 'cargo', flag_code: 'NO', operational_status: 'active', year_built: 2008, gross_tonnage: 51200, dimensions: { length_overall: 229.5, beam: 32.3, draft: 12.1 }, assignedCrew: ['CREW-001', 'CREW-002', 'CREW-004'] },
  { imo_number: 'IMO9456712', vessel_name: 'Aurora Borealis', vessel_type: 'tanker', flag_code: 'MT', operational_status: 'active', year_built: 2012, gross_tonnage: 62350, dimensions: { length_overall: 249.9, beam: 44, draft: 14.8 }, assignedCrew: ['CREW-003', 'CREW-005'] },
  { imo_number: 'IMO9187455', vessel_name: 'Coastal Pioneer', vessel_type: 'container', flag_code: 'PA', operational_status: 'laid_up', year_built: 1999, gross_tonnage: 18900, dimensions: { length_overall: 171, beam: 27.4, draft: 9.5 }, assignedCrew: [] },
]

export const CREW: readonly CrewMember[] = [
  { crewId: 'CREW-001', fullName: 'Ingrid Larsen', role: 'Master', nationality: 'NO', assignedShip: 'IMO9321483' },
  { crewId: 'CREW-002', fullName: 'Tomas Berg', role: 'Chief Engineer', nationality: 'SE', assignedShip: 'IMO9321483' },
  { crewId: 'CREW-003', fullName: 'Maria Camilleri', role: 'Master', nationality: 'MT', assignedShip: 'IMO9456712' },
  { crewId: 'CREW-004', fullName: 'Ahmed Okafor', role: 'Able Seaman', nationality: 'NG', assignedShip: 'IMO9321483' },
  { crewId: 'CREW-005', fullName: 'Lena Vos', role: 'Chief Officer', nationality: 'NL', assignedShip: 'IMO9456712' },
  { crewId: 'CREW-006', fullName: 'Kenji Sato', role: 'Cook', nationality: 'JP', assignedShip: null },
]

export const CARGO: readonly CargoItem[] = [
  { cargoId: 'CARGO-101', type: 'container', description: '40ft containers of machinery parts', weight: 24000, hazardous: false },
  { cargoId: 'CARGO-102', type: 'bulk', description: 'Grain (wheat)', weight: 18000, hazardous: false },
  { cargoId: 'CARGO-103', type: 'liquid', description: 'Marine diesel', weight: 12000.5, hazardous: true },
]

/** Seeded, so that get-voyage has something to read before any create-voyage. */
export const SEEDED_VOYAGE: Voyage = {
  voyageId: 'VOY-2026-001',
  shipImo: 'IMO9321483',
  departurePort: 'Oslo',
  arrivalPort: 'Rotterdam',
  departureDate: '2026-04-01',
  arrivalDate: '2026-04-04',
  crewIds: ['CREW-001', 'CREW-002'],
  cargoIds: ['CARGO-101', 'CARGO-103'],
  status: 'planned',
}

export const LEGACY_VESSELS: readonly LegacyVessel[] = [
  { vesselCode: 'DY-1001', vesselName: 'Northern Star', category: 'CARGO', flagState: 'NOR', operationalStatus: 'active' },
  { vesselCode: 'DY-1002', vesselName: 'Stella Maris', category: 'TUG', flagState: 'MLT', operationalStatus: 'laid_up' },
  { vesselCode: 'DY-1003', vesselName: 'Iron Gull', category: 'FERRY', flagState: 'GRC', operationalStatus: 'scrapped' },
  { vesselCode: 'DY-1004', vesselName: 'Brisa & Sol', category: 'CARGO', flagState: 'PRT', operationalStatus: 'active' },
]

export interface RecordedRequest {
  api: 'registry' | 'dockyard' | 'unknown'
  method: string
  /** path below the API's base path, without the query */
  path: string
  query: Record<string, string>
  headers: IncomingHttpHeaders
  body: string
  /** the status the fake answered */
  status: number
}

export interface TutorialUpstreamOptions {
  /** the registry's expected bearer token and Registry-Version; false: check neither */
  registry?: { token: string, version: string } | false
  /** the dockyard's expected X-Dock-Key; false: no check */
  dockyardKey?: string | false
}

export interface TutorialUpstream {
  origin: string
  registryUrl: string
  dockyardUrl: string
  requests: RecordedRequest[]
  /** voyages by id: the seeded one and those created */
  voyages: Map<string, Voyage>
  /** what the checks expect from now on (a step's consumes files may send other values) */
  expect (options: TutorialUpstreamOptions): void
  close (): Promise<void>
}

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function vesselsXml (vessels: readonly LegacyVessel[]): string {
  const items = vessels.map((v) => '  <vessel>\n' + Object.entries(v).map(([k, value]) => `    <${k}>${escapeXml(value)}</${k}>\n`).join('') + '  </vessel>\n')
  return `<?xml version="1.0" encoding="UTF-8"?>\n<vessels>\n${items.join('')}</vessels>\n`
}

function summary (ship: Ship): Pick<Ship, 'imo_number' | 'vessel_name' | 'vessel_type' | 'flag_code' | 'operational_status'> {
  return { imo_number: ship.imo_number, vessel_name: ship.vessel_name, vessel_type: ship.vessel_type, flag_code: ship.flag_code, operational_status: ship.operational_status }
}

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string')

export async function startTutorialUpstream (options: TutorialUpstreamOptions = {}): Promise<TutorialUpstream> {
  const requests: RecordedRequest[] = []
  const voyages = new Map<string, Voyage>([[SEEDED_VOYAGE.voyageId, { ...SEEDED_VOYAGE }]])
  let nextVoyage = 2
  let registry = options.registry ?? false
  let dockyardKey = options.dockyardKey ?? false

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake')
      const body = Buffer.concat(chunks).toString('utf8')
      const api = url.pathname.startsWith(REGISTRY_PATH + '/') ? 'registry' : url.pathname.startsWith(DOCKYARD_PATH + '/') ? 'dockyard' : 'unknown'
      const path = api === 'registry' ? url.pathname.slice(REGISTRY_PATH.length) : api === 'dockyard' ? url.pathname.slice(DOCKYARD_PATH.length) : url.pathname
      const record: RecordedRequest = { api, method: req.method ?? '', path, query: Object.fromEntries(url.searchParams), headers: req.headers, body, status: 0 }
      requests.push(record)
      const send = (status: number, type: string, text: string, headers: Record<string, string> = {}): void => {
        record.status = status
        res.writeHead(status, { 'content-type': type, ...headers })
        res.end(text)
      }
      const json = (status: number, value: unknown, headers: Record<string, string> = {}): void => send(status, 'application/json', JSON.stringify(value), headers)
      const jsonError = (status: number, code: string, message: string, headers: Record<string, string> = {}): void => json(status, { error: { code, message } }, headers)

      if (api === 'dockyard') {
        if (dockyardKey !== false && req.headers['x-dock-key'] !== dockyardKey) {
          send(401, 'application/xml', '<?xml version="1.0" encoding="UTF-8"?>\n<error><code>401</code><message>missing or invalid X-Dock-Key</message></error>\n')
          return
        }
        if (req.method === 'GET' && path === '/vessels') {
          const status = url.searchParams.get('status')
          send(200, 'application/xml; charset=utf-8', vesselsXml(status === null ? LEGACY_VESSELS : LEGACY_VESSELS.filter((v) => v.operationalStatus === status)))
          return
        }
        send(404, 'application/xml', '<?xml version="1.0" encoding="UTF-8"?>\n<error><code>404</code><message>no such resource</message></error>\n')
        return
      }
      if (api !== 'registry') {
        jsonError(404, 'not_found', `nothing is served at ${url.pathname}`)
        return
      }

      if (registry !== false) {
        if (req.headers.authorization !== `Bearer ${registry.token}`) {
          jsonError(401, 'unauthorized', 'missing or invalid bearer token', { 'www-authenticate': 'Bearer realm="maritime-registry"' })
          return
        }
        if (req.headers['registry-version'] !== registry.version) {
          jsonError(400, 'unsupported_version', `Registry-Version must be ${registry.version}`)
          return
        }
      }

      const segments = path.split('/').filter((s) => s !== '').map(decodeURIComponent)
      if (req.method === 'GET' && path === '/ships') {
        const status = url.searchParams.get('status')
        json(200, SHIPS.filter((s) => status === null || s.operational_status === status).map(summary))
        return
      }
      if (req.method === 'GET' && segments.length === 2 && segments[0] === 'ships') {
        const ship = SHIPS.find((s) => s.imo_number === segments[1])
        if (ship === undefined) jsonError(404, 'ship_not_found', `no ship with IMO number ${segments[1] ?? ''}`)
        else json(200, ship)
        return
      }
      if (req.method === 'GET' && path === '/crew') {
        json(200, CREW)
        return
      }
      if (req.method === 'GET' && path === '/cargo') {
        json(200, CARGO)
        return
      }
      if (req.method === 'GET' && segments.length === 2 && segments[0] === 'voyages') {
        const voyage = voyages.get(segments[1] ?? '')
        if (voyage === undefined) jsonError(404, 'voyage_not_found', `no voyage ${segments[1] ?? ''}`)
        else json(200, voyage)
        return
      }
      if (req.method === 'POST' && path === '/voyages') {
        let input: Record<string, unknown>
        try {
          input = JSON.parse(body) as Record<string, unknown>
        } catch {
          jsonError(400, 'invalid_json', 'the request body is not JSON')
          return
        }
        const strings = ['shipImo', 'departurePort', 'arrivalPort', 'departureDate', 'arrivalDate'] as const
        const missing = strings.find((k) => typeof input[k] !== 'string' || input[k] === '')
        if (missing !== undefined) {
          jsonError(422, 'invalid_voyage', `${missing} is required`)
          return
        }
        if (!SHIPS.some((s) => s.imo_number === input.shipImo)) {
          jsonError(422, 'invalid_voyage', `no ship with IMO number ${String(input.shipImo)}`)
          return
        }
        if (!isStringArray(input.crewIds) || input.crewIds.some((id) => !CREW.some((c) => c.crewId === id))) {
          jsonError(422, 'invalid_voyage', 'crewIds must list known crew ids')
          return
        }
        const cargoIds = input.cargoIds ?? []
        if (!isStringArray(cargoIds) || cargoIds.some((id) => !CARGO.some((c) => c.cargoId === id))) {
          jsonError(422, 'invalid_voyage', 'cargoIds must list known cargo ids')
          return
        }
        const voyage: Voyage = {
          voyageId: `VOY-2026-${String(nextVoyage++).padStart(3, '0')}`,
          shipImo: input.shipImo as string,
          departurePort: input.departurePort as string,
          arrivalPort: input.arrivalPort as string,
          departureDate: input.departureDate as string,
          arrivalDate: input.arrivalDate as string,
          crewIds: input.crewIds,
          cargoIds,
          status: 'planned',
        }
        voyages.set(voyage.voyageId, voyage)
        json(201, voyage, { location: `${REGISTRY_PATH}/voyages/${voyage.voyageId}` })
        return
      }
      jsonError(404, 'not_found', `no route for ${req.method ?? ''} ${path}`)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  const origin = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  return {
    origin,
    registryUrl: origin + REGISTRY_PATH,
    dockyardUrl: origin + DOCKYARD_PATH,
    requests,
    voyages,
    expect (next) {
      if (next.registry !== undefined) registry = next.registry
      if (next.dockyardKey !== undefined) dockyardKey = next.dockyardKey
    },
    close: async () => {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
}
