// Values the vitest globalSetup (__test__/setup/global.ts) provides to tests via `inject(...)`.
export {}

declare module 'vitest' {
  export interface ProvidedContext {
    /** A standalone Valkey: $VALKEY_URL, else one started for the run. */
    valkeyUrl: string
    /** Valkey Cluster seed URLs (redis://127.0.0.1:port); empty when FERROCACHE_CLUSTER=0. */
    clusterNodes: string[]
  }
}
