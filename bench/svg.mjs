// Line charts as self-contained SVG text (no chart dependency): categorical x axis (the measured
// points, evenly spaced), linear or log-10 y axis, one line with markers per series, a legend.

const COLORS = ['#d9480f', '#1971c2', '#2f9e44', '#7048e8', '#868e96']
const W = 640
const H = 380
const PAD = { left: 74, right: 34, top: 40, bottom: 82 }

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** Round tick values covering [0, max] (about 5 of them). */
function linearTicks(max) {
  if (!(max > 0)) return [0, 1]
  const raw = max / 5
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)
  const ticks = []
  for (let v = 0; v <= max + step * 0.999; v += step) ticks.push(v)
  return ticks
}

/** Powers of ten covering [min, max]. */
function logTicks(min, max) {
  const lo = Math.floor(Math.log10(min))
  const hi = Math.ceil(Math.log10(max))
  const ticks = []
  for (let e = lo; e <= Math.max(hi, lo + 1); e++) ticks.push(10 ** e)
  return ticks
}

/** 1234567 → "1.2M", 0.5 → "0.5". */
export function compact(v) {
  const a = Math.abs(v)
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`
  return `${+v.toPrecision(3)}`
}

/**
 * @param {{ title: string, xLabel: string, yLabel: string, x: string[],
 *   series: { name: string, values: (number|null)[] }[], logY?: boolean, note?: string }} chart
 * @returns {string} the SVG document
 */
export function lineChart({ title, xLabel, yLabel, x, series, logY = false, note }) {
  const finite = series.flatMap((s) => s.values).filter((v) => Number.isFinite(v) && (!logY || v > 0))
  const ticks = logY
    ? logTicks(finite.length ? Math.min(...finite) : 1, finite.length ? Math.max(...finite) : 10)
    : linearTicks(Math.max(...finite, 0))
  const [y0, y1] = [ticks[0], ticks[ticks.length - 1]]
  const plotW = W - PAD.left - PAD.right
  const plotH = H - PAD.top - PAD.bottom
  const px = (i) => PAD.left + (x.length === 1 ? plotW / 2 : (i * plotW) / (x.length - 1))
  const py = (v) => {
    const f = logY
      ? (Math.log10(v) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0))
      : (v - y0) / (y1 - y0)
    return PAD.top + plotH * (1 - f)
  }
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" ` +
      `font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">${esc(title)}</text>`,
  ]
  for (const t of ticks) {
    const y = py(t).toFixed(1)
    out.push(
      `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y}" y2="${y}" stroke="#e9ecef"/>`,
      `<text x="${PAD.left - 6}" y="${y}" dy="4" text-anchor="end" fill="#495057">${compact(t)}</text>`,
    )
  }
  x.forEach((label, i) => {
    out.push(
      `<line x1="${px(i)}" x2="${px(i)}" y1="${PAD.top + plotH}" y2="${PAD.top + plotH + 4}" stroke="#495057"/>`,
      `<text x="${px(i)}" y="${PAD.top + plotH + 18}" text-anchor="middle" fill="#495057">${esc(label)}</text>`,
    )
  })
  out.push(
    `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${PAD.top + plotH}" y2="${PAD.top + plotH}" stroke="#495057"/>`,
    `<text x="${PAD.left + plotW / 2}" y="${PAD.top + plotH + 36}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text transform="translate(16 ${PAD.top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}${logY ? ' (log scale)' : ''}</text>`,
  )
  series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length]
    const pts = s.values
      .map((v, i) => (Number.isFinite(v) && (!logY || v > 0) ? [px(i), py(v)] : null))
      .filter(Boolean)
    if (pts.length > 1)
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="${k === 0 ? 3 : 2}" points="${pts
          .map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`)
          .join(' ')}"/>`,
      )
    for (const [a, b] of pts)
      out.push(`<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="3.5" fill="${color}"/>`)
    // legend under the axis title, left to right
    const lx = PAD.left + k * 150
    const ly = H - 22
    out.push(
      `<rect x="${lx}" y="${ly - 9}" width="14" height="4" fill="${color}"/>`,
      `<text x="${lx + 20}" y="${ly - 4}">${esc(s.name)}</text>`,
    )
  })
  if (note)
    out.push(
      `<text x="${W - PAD.right}" y="${H - 6}" text-anchor="end" font-size="10" fill="#868e96">${esc(note)}</text>`,
    )
  out.push('</svg>')
  return out.join('\n') + '\n'
}
