// Deterministic, realistic JSON-like payloads for the benchmarks.
// A "record" is an e-commerce order (~1 KB of JSON): nested objects and arrays, strings,
// integers, decimals, booleans, nulls and ISO dates stored as strings, as a tRPC/Next.js
// backend would cache them. The ~100 KB payload is a page of such orders.

// mulberry32: tiny seeded PRNG so every run (and every client) gets the same data.
export function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const FIRST = ['Ada', 'Linus', 'Grace', 'Ken', 'Barbara', 'Dennis', 'Margaret', 'Guido', 'Radia', 'Bjarne']
const LAST = ['Lovelace', 'Torvalds', 'Hopper', 'Thompson', 'Liskov', 'Ritchie', 'Hamilton', 'van Rossum']
const CITIES = [
  ['Berlin', 'DE', '10115'],
  ['Lyon', 'FR', '69001'],
  ['Austin', 'US', '78701'],
  ['Osaka', 'JP', '530-0001'],
  ['Porto', 'PT', '4000-001'],
  ['Toronto', 'CA', 'M5H 2N2'],
]
const PRODUCTS = [
  ['Mechanical keyboard, brown switches', 'electronics'],
  ['USB-C dock with 2x HDMI', 'electronics'],
  ['Ergonomic office chair', 'furniture'],
  ['Stainless steel water bottle 750ml', 'kitchen'],
  ['Noise-cancelling headphones', 'electronics'],
  ['Standing desk converter', 'furniture'],
  ['Organic green tea, 100 bags', 'grocery'],
  ['Running shoes, size 43', 'apparel'],
]
const TAGS = ['gift', 'fragile', 'bestseller', 'eco', 'clearance', 'new', 'bundle']
const STATUSES = ['pending', 'paid', 'shipped', 'delivered', 'refunded']
const CARRIERS = ['DHL', 'UPS', 'FedEx', 'La Poste', 'Yamato']

const pick = (r, arr) => arr[Math.floor(r() * arr.length)]
const money = (r, max) => Math.round(r() * max * 100) / 100
const BASE_TIME = Date.UTC(2025, 0, 1)
const isoDate = (r, days = 365) => new Date(BASE_TIME + Math.floor(r() * days * 86400000)).toISOString()

/** One ~1 KB order record; `i` makes it distinct and deterministic. */
export function makeRecord(i) {
  const r = rng(0x9e3779b9 ^ i)
  const [city, country, zip] = pick(r, CITIES)
  const first = pick(r, FIRST)
  const last = pick(r, LAST)
  const itemCount = 2 + Math.floor(r() * 2)
  const items = []
  let subtotal = 0
  for (let k = 0; k < itemCount; k++) {
    const [name, category] = pick(r, PRODUCTS)
    const qty = 1 + Math.floor(r() * 4)
    const unitPrice = money(r, 250)
    subtotal += qty * unitPrice
    items.push({
      sku: `SKU-${(1000 + Math.floor(r() * 9000)).toString()}-${category.slice(0, 3).toUpperCase()}`,
      name,
      category,
      qty,
      unitPrice,
      discount: r() < 0.3 ? money(r, 20) : 0,
      inStock: r() < 0.9,
      tags: [pick(r, TAGS), pick(r, TAGS)],
    })
  }
  subtotal = Math.round(subtotal * 100) / 100
  const tax = Math.round(subtotal * 0.19 * 100) / 100
  const shipping = subtotal > 100 ? 0 : 4.99
  const createdAt = isoDate(r)
  return {
    id: `ord_${String(i).padStart(8, '0')}`,
    version: 1 + Math.floor(r() * 5),
    status: pick(r, STATUSES),
    createdAt,
    updatedAt: new Date(Date.parse(createdAt) + Math.floor(r() * 7 * 86400000)).toISOString(),
    currency: country === 'US' ? 'USD' : country === 'JP' ? 'JPY' : 'EUR',
    paid: r() < 0.8,
    giftWrap: r() < 0.1,
    customer: {
      id: `cus_${Math.floor(r() * 1e6)}`,
      name: `${first} ${last}`,
      email: `${first}.${last}@example.com`.toLowerCase().replace(/ /g, ''),
      vip: r() < 0.15,
      address: { line1: `${1 + Math.floor(r() * 200)} Main Street`, city, zip, country },
    },
    items,
    totals: { subtotal, tax, shipping, grandTotal: Math.round((subtotal + tax + shipping) * 100) / 100 },
    shipment: {
      carrier: pick(r, CARRIERS),
      tracking: Math.floor(r() * 1e12)
        .toString(36)
        .toUpperCase(),
      eta: isoDate(r, 400),
      delivered: null,
    },
    notes: r() < 0.3 ? 'Please leave the parcel with the neighbour if nobody answers.' : null,
  }
}

/** A page of orders whose JSON is at least `targetBytes` long (~100 records for 100 KB). */
export function makePage(i, targetBytes = 100 * 1024) {
  const orders = []
  let size = 64
  for (let k = 0; size < targetBytes; k++) {
    const rec = makeRecord(i * 1000 + k)
    size += JSON.stringify(rec).length + 1
    orders.push(rec)
  }
  return {
    page: i,
    pageSize: orders.length,
    generatedAt: isoDate(rng(i)),
    hasMore: true,
    orders,
  }
}

/** Deterministic permutation of 0..n-1, used to spread accesses over the key pool. */
export function permutation(n, seed = 42) {
  const r = rng(seed)
  const a = Array.from({ length: n }, (_, k) => k)
  for (let k = n - 1; k > 0; k--) {
    const j = Math.floor(r() * (k + 1))
    ;[a[k], a[j]] = [a[j], a[k]]
  }
  return a
}
