/** Starts refused as busy before a wave skips a slug; each try waits longer (up to a few minutes). */
export const MAX_BUSY_ATTEMPTS = 8;
