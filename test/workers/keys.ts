// API keys of the workerd tests; vitest.config.ts gives the Worker their SHA-256.
export const KEY = "sk-workers-test";
export const OTHER_KEY = "sk-workers-other";
/** Used only by the rate-limit test, so other tests never eat its budget. */
export const LIMITED_KEY = "sk-workers-limited";
export const RATE_LIMIT_PER_MINUTE = 40;
export const MAX_BODY_BYTES = 4096;
/** Failed authentications per client address and minute (test/workers/auth.test.ts). */
export const AUTH_FAILURES_PER_MINUTE = 20;
/** Session bounds (test/workers/session-limits.test.ts). */
export const MAX_MESSAGES_PER_REQUEST = 32;
export const MAX_SESSION_MESSAGES = 12;
