// Shared settings for the peer adapters: every peer stores JSON strings with SET key value PX.
export const TTL_SECONDS = 300
export const TTL_MS = TTL_SECONDS * 1000

/** Host/port/credentials/db from a redis:// or rediss:// URL (for clients that do not take URLs). */
export function parseUrl(url) {
  const u = new URL(url)
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: Number(u.port || 6379),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname && u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined,
    tls: u.protocol === 'rediss:',
  }
}

export const parseOrNull = (s) => (s == null ? null : JSON.parse(s))
