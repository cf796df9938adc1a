/**
 * Time sources. Every duration is measured on the monotonic clock (a wall-clock step forward or
 * back must neither age an observation nor make a follower take over); the wall clock is used
 * only for timestamps written into objects and logs.
 */
export interface Clock {
    /** Milliseconds on a clock that never steps (performance.now: CLOCK_MONOTONIC since process start). */
    mono(): number;
    /** Milliseconds since the epoch, for timestamps other people read. */
    wall(): number;
}

export const systemClock: Clock = { mono: () => performance.now(), wall: () => Date.now() };

/** Kubernetes MicroTime: RFC 3339 with microseconds. */
export function microTime(wallMs: number): string {
    return new Date(wallMs).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** RFC 3339 in whole seconds (Event and annotation timestamps). */
export function rfc3339(wallMs: number): string {
    return new Date(wallMs).toISOString().replace(/\.\d{3}Z$/, "Z");
}
