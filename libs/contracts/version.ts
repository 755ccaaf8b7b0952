/** The server version reported by sys/health and sys/seal-status, and the CLI's `version`. */
export const COFFER_VERSION = '0.1.0';
export const BUILD_DATE = '2026-11-29T00:00:00Z';
