/** promtool's path: $PROMTOOL, PATH, <repo>/.promtool, else fetched from Debian's `prometheus` package. */
export declare function promtool(): string
