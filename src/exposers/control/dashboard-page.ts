import { createHash } from 'node:crypto'

/**
 * The control port's dashboard: one self-contained page (inline style and script, nothing fetched
 * but its feed) that polls `dashboard/data` about once a second and draws it. Everything the feed
 * says is written as text nodes, never parsed as markup. The page is the same for every request, so
 * its Content-Security-Policy names the hashes of its one style and one script.
 */
const STYLE = `
:root { color-scheme: light dark; --fg: #1b1f24; --muted: #5b6470; --bg: #f4f6f8; --card: #fff; --line: #d9dde3; --bad: #c62828; --ok: #2e7d32 }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8eb; --muted: #9aa3ad; --bg: #14171a; --card: #1d2125; --line: #343a40; --bad: #ef5350; --ok: #66bb6a } }
* { box-sizing: border-box }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; background: var(--bg); color: var(--fg) }
header { display: flex; justify-content: space-between; align-items: flex-start; gap: 16px; padding: 16px 24px; border-bottom: 1px solid var(--line); background: var(--card) }
h1 { font-size: 20px; margin: 0 0 2px } h2 { font-size: 15px; margin: 0 0 10px }
main { display: grid; gap: 16px; padding: 16px 24px }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; overflow-x: auto }
table { border-collapse: collapse; width: 100% }
th, td { text-align: left; padding: 4px 10px 4px 0; border-bottom: 1px solid var(--line); vertical-align: top }
th { font-weight: 600; color: var(--muted); font-size: 12px }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace }
.muted { color: var(--muted) } .bad { color: var(--bad) } .ok { color: var(--ok) }
.right { text-align: right }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; border: 1px solid currentColor; font-size: 12px; font-weight: 600 }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px }
.card b { display: block; font-size: 22px; font-variant-numeric: tabular-nums }
.plots { display: grid; grid-template-columns: 1fr 1fr; gap: 16px }
figure { margin: 0 } figcaption { font-size: 12px; color: var(--muted) }
svg { width: 100%; height: auto; display: block }
svg text { font: 10px system-ui, sans-serif; fill: var(--muted) }
svg .axis { stroke: var(--line) }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin-top: 8px; font-size: 12px }
.legend svg { width: 12px; height: 12px; display: inline-block; vertical-align: middle; margin-right: 4px }
.chips code { display: inline-block; margin: 0 6px 2px 0; padding: 0 4px; border: 1px solid var(--line); border-radius: 4px }
`

const SCRIPT = `
'use strict'
const SVG = 'http://www.w3.org/2000/svg'
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2']
const PLOT = { left: 44, right: 592, top: 10, bottom: 160 }
const byId = (id) => document.getElementById(id)
function el (tag, attrs, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v)
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ''))
  return node
}
function svg (tag, attrs, text) {
  const node = document.createElementNS(SVG, tag)
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v))
  if (text !== undefined) node.textContent = text
  return node
}
const ms = (v) => v === null ? '\\u2014' : v < 10 ? v.toFixed(2) : v.toFixed(1)
const perSecond = (v) => v === 0 ? '0' : v < 10 ? v.toFixed(2) : v.toFixed(1)
const clock = (at) => new Date(at).toLocaleTimeString([], { hour12: false })

function niceCeiling (v) {
  if (v <= 1) return 1
  const step = Math.pow(10, Math.floor(Math.log10(v)))
  for (const m of [1, 2, 5, 10]) if (v <= m * step) return m * step
  return 10 * step
}

// the x axis spans the time sampled so far: at least a minute, at most the feed's window
function spanOf (series, now, windowMs) {
  const first = Math.min(now, ...series.flatMap((s) => s.rates.map((r) => r[0])))
  return Math.min(windowMs, Math.max(60000, now - first))
}
const ago = (span) => span < 120000 ? '-' + Math.round(span / 1000) + ' s' : '-' + (span / 60000).toFixed(1).replace(/\\.0$/, '') + ' min'

function drawPlot (node, series, column, now, windowMs) {
  const values = series.flatMap((s) => s.rates.map((r) => r[column]))
  const top = niceCeiling(Math.max(0, ...values))
  const span = spanOf(series, now, windowMs)
  const x = (t) => PLOT.left + (t - (now - span)) / span * (PLOT.right - PLOT.left)
  const y = (v) => PLOT.bottom - v / top * (PLOT.bottom - PLOT.top)
  node.replaceChildren(
    svg('line', { class: 'axis', x1: PLOT.left, y1: PLOT.bottom, x2: PLOT.right, y2: PLOT.bottom }),
    svg('line', { class: 'axis', x1: PLOT.left, y1: PLOT.top, x2: PLOT.left, y2: PLOT.bottom }),
    svg('line', { class: 'axis', x1: PLOT.left, y1: PLOT.top, x2: PLOT.right, y2: PLOT.top, 'stroke-dasharray': '2 3' }),
    svg('text', { x: PLOT.left - 4, y: PLOT.top + 4, 'text-anchor': 'end', 'data-role': 'max' }, String(top)),
    svg('text', { x: PLOT.left - 4, y: PLOT.bottom, 'text-anchor': 'end' }, '0'),
    svg('text', { x: PLOT.left, y: PLOT.bottom + 14 }, ago(span)),
    svg('text', { x: PLOT.right, y: PLOT.bottom + 14, 'text-anchor': 'end' }, 'now'))
  for (const s of series) {
    const points = s.rates.filter((r) => r[0] >= now - span)
    if (points.length === 0) continue
    const d = points.map((r, i) => (i === 0 ? 'M' : 'L') + x(r[0]).toFixed(1) + ',' + y(r[column]).toFixed(1)).join('')
    node.append(svg('path', { d, fill: 'none', stroke: s.color, 'stroke-width': s.key === 'all' ? 2 : 1.5, 'stroke-linejoin': 'round', 'data-series': s.key }))
  }
}

function render (data) {
  byId('cap-label').textContent = data.capability.label || data.capability.file
  byId('cap-version').textContent = data.capability.version ? 'version ' + data.capability.version : 'no version'
  byId('cap-file').textContent = data.capability.file
  byId('meta').textContent = 'naftiko ' + data.naftiko + ' \\u00b7 up ' + data.uptimeSeconds + ' s'
  const ready = byId('ready')
  ready.textContent = data.ready ? 'ready' : 'not ready'
  ready.className = 'badge ' + (data.ready ? 'ok' : 'bad')

  const last = (rates) => rates.length === 0 ? [0, 0, 0] : rates[rates.length - 1]
  const requests = data.rows.reduce((n, r) => n + r.requests, 0)
  const errors = data.rows.reduce((n, r) => n + r.errors, 0)
  byId('total-requests').textContent = String(requests)
  byId('total-errors').textContent = String(errors)
  byId('rate-requests').textContent = perSecond(last(data.totalRates)[1])
  byId('rate-errors').textContent = perSecond(last(data.totalRates)[2])

  const plotted = data.rows.filter((r) => r.rates.length > 0)
  const series = [{ key: 'all', name: 'all routes and tools', color: 'currentColor', rates: data.totalRates }]
  plotted.forEach((r, i) => series.push({ key: r.expose + ' ' + r.name, name: r.expose + ' \\u00b7 ' + r.name, color: COLORS[i % COLORS.length], rates: r.rates }))
  const windowMs = data.windowSeconds * 1000
  drawPlot(byId('plot-requests'), series, 1, data.now, windowMs)
  drawPlot(byId('plot-errors'), series, 2, data.now, windowMs)
  byId('legend').replaceChildren(...series.map((s) => {
    const swatch = svg('svg', { viewBox: '0 0 12 12', 'aria-hidden': 'true' })
    swatch.append(svg('rect', { width: 12, height: 12, rx: 2, fill: s.color }))
    const item = el('span', {}, s.name)
    item.prepend(swatch)
    return item
  }))

  byId('traffic').tBodies[0].replaceChildren(...data.rows.map((r) => {
    const rate = r.lastRate
    return el('tr', { 'data-expose': r.expose, 'data-name': r.name },
      el('td', {}, r.expose), el('td', {}, el('code', {}, r.name)),
      el('td', { class: 'num', 'data-col': 'requests' }, r.requests),
      el('td', { class: 'num' + (r.errors > 0 ? ' bad' : ''), 'data-col': 'errors' }, r.errors),
      el('td', { class: 'num', 'data-col': 'error-rate' }, r.requests === 0 ? '\\u2014' : (100 * r.errors / r.requests).toFixed(1) + ' %'),
      el('td', { class: 'num', 'data-col': 'rps' }, perSecond(rate[0])),
      el('td', { class: 'num', 'data-col': 'eps' }, perSecond(rate[1])),
      el('td', { class: 'num', 'data-col': 'p50' }, ms(r.p50)),
      el('td', { class: 'num', 'data-col': 'p95' }, ms(r.p95)),
      el('td', { class: 'num', 'data-col': 'p99' }, ms(r.p99)),
      el('td', { 'data-col': 'statuses' }, Object.entries(r.statuses).map((e) => e[0] + ': ' + e[1]).join(', ')))
  }))

  byId('no-errors').hidden = data.recentErrors.length > 0
  byId('errors').tBodies[0].replaceChildren(...data.recentErrors.slice(0, 50).map((e) => el('tr', {},
    el('td', {}, clock(e.at)), el('td', {}, e.expose), el('td', {}, el('code', {}, e.name)),
    el('td', { class: 'num bad', 'data-col': 'status' }, e.status === null ? '\\u2014' : e.status),
    el('td', { 'data-col': 'kind' }, e.kind === null ? '\\u2014' : e.kind))))

  byId('exposes').tBodies[0].replaceChildren(...data.exposes.map((x) => {
    const chips = el('td', { class: 'chips' })
    chips.append(...x.routes.map((name) => el('code', {}, name)))
    return el('tr', {}, el('td', {}, x.type), el('td', {}, x.namespace), el('td', {}, el('code', {}, x.url)), chips)
  }))
}

function setStatus (text, bad) {
  const status = byId('status')
  status.textContent = text
  status.className = bad ? 'bad' : 'muted'
}

async function poll () {
  try {
    const answer = await fetch('dashboard/data' + location.search, { cache: 'no-store', headers: { accept: 'application/json' } })
    if (answer.ok) {
      render(await answer.json())
      setStatus('updated ' + clock(Date.now()), false)
    } else {
      setStatus('the feed answered ' + answer.status, true)
    }
  } catch (err) {
    setStatus('the feed is unreachable', true)
  }
  setTimeout(poll, 1000)
}
poll()
`

const BODY = `<header>
<div><h1 id="cap-label">Loading</h1><div class="muted"><span id="cap-version"></span> &middot; <code id="cap-file"></code></div></div>
<div class="right"><span id="ready" class="badge">&hellip;</span> <span id="meta" class="muted"></span><div id="status" class="muted">loading&hellip;</div></div>
</header>
<main>
<section class="cards">
<div class="card"><span class="muted">requests since start</span><b id="total-requests">0</b></div>
<div class="card"><span class="muted">errors since start</span><b id="total-errors">0</b></div>
<div class="card"><span class="muted">requests/s</span><b id="rate-requests">0</b></div>
<div class="card"><span class="muted">errors/s</span><b id="rate-errors">0</b></div>
</section>
<section><h2>Request rate and error rate</h2>
<div class="plots">
<figure><figcaption>requests per second</figcaption><svg id="plot-requests" viewBox="0 0 600 180" role="img" aria-label="requests per second"></svg></figure>
<figure><figcaption>errors per second</figcaption><svg id="plot-errors" viewBox="0 0 600 180" role="img" aria-label="errors per second"></svg></figure>
</div>
<div id="legend" class="legend"></div>
</section>
<section><h2>Routes and tools</h2>
<table id="traffic"><thead><tr><th>expose</th><th>route or tool</th><th class="num">requests</th><th class="num">errors</th><th class="num">error rate</th><th class="num">req/s</th><th class="num">err/s</th><th class="num">p50 ms</th><th class="num">p95 ms</th><th class="num">p99 ms</th><th>statuses</th></tr></thead><tbody></tbody></table>
<p class="muted">Counts and latency percentiles since start (percentiles from the histogram's buckets); rates over the last second.</p>
</section>
<section><h2>Recent errors</h2>
<table id="errors"><thead><tr><th>time</th><th>expose</th><th>route or tool</th><th class="num">status</th><th>kind</th></tr></thead><tbody></tbody></table>
<p id="no-errors" class="muted">None yet.</p>
</section>
<section><h2>Exposes</h2>
<table id="exposes"><thead><tr><th>type</th><th>namespace</th><th>address</th><th>routes, tools or endpoints</th></tr></thead><tbody></tbody></table>
</section>
</main>`

const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`

export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>naftiko dashboard</title><link rel="icon" href="data:,"><style>${STYLE}</style></head>
<body>${BODY}<script>${SCRIPT}</script></body></html>
`

export const DASHBOARD_HEADERS = Object.freeze({
  'content-type': 'text/html; charset=utf-8',
  'content-length': String(Buffer.byteLength(DASHBOARD_PAGE)),
  'cache-control': 'no-store',
  'content-security-policy': `default-src 'none'; script-src ${hash(SCRIPT)}; style-src ${hash(STYLE)}; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
})
