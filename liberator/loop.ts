/**
 * When the controller reconciles: soon after events (bursts coalesced into one run, and never
 * postponed by a steady stream of them), at the next deadline a decision names, and at least once
 * every resync period as a safety net. One reconcile at a time; events that arrive during one ask
 * for another right after it.
 */
export interface LoopOptions {
    /** Collapse bursts of events into one reconcile. */
    debounceMs: number;
    /** Reconcile at least this often even without events. */
    resyncMs: number;
    now: () => number;
    onError: (e: unknown) => void;
}

export class ReconcileLoop {
    private timer?: NodeJS.Timeout;
    private deadlineTimer?: NodeJS.Timeout;
    private resyncTimer?: NodeJS.Timeout;
    private running = false;
    private again = false;
    private stopped = true;
    private reconciling?: Promise<void>;

    constructor(
        private readonly body: () => Promise<void>,
        private readonly o: LoopOptions,
    ) {}

    get isStopped(): boolean {
        return this.stopped;
    }

    start(): void {
        this.stopped = false;
        const resync = () => {
            this.soon(0);
            this.resyncTimer = setTimeout(resync, this.o.resyncMs);
        };
        this.resyncTimer = setTimeout(resync, this.o.resyncMs);
    }

    /** Stops scheduling and waits for a reconcile in progress. */
    async stop(): Promise<void> {
        this.stopped = true;
        for (const t of [this.timer, this.deadlineTimer, this.resyncTimer]) if (t) clearTimeout(t);
        await this.reconciling;
    }

    soon(delay = this.o.debounceMs): void {
        if (this.stopped) return;
        if (this.running) {
            this.again = true;
            return;
        }
        // Coalesce, never postpone: with a steady stream of Lease renewals a debounce that restarts
        // its timer on every event would never fire.
        if (this.timer) {
            if (delay > 0) return;
            clearTimeout(this.timer);
        }
        this.timer = setTimeout(() => {
            this.timer = undefined;
            this.reconciling = this.run();
        }, delay);
    }

    /** The next reconcile without new events: at `time` (monotonic), or none. */
    deadline(time: number | undefined): void {
        if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
        if (time !== undefined && !this.stopped) this.deadlineTimer = setTimeout(() => this.soon(0), Math.max(0, time - this.o.now()) + 20);
    }

    /** Reconciles now, and again as long as events arrived meanwhile. */
    async run(): Promise<void> {
        if (this.running) {
            this.again = true;
            return;
        }
        this.running = true;
        try {
            do {
                this.again = false;
                await this.body();
            } while (this.again && !this.stopped);
        } catch (e) {
            this.o.onError(e);
        } finally {
            this.running = false;
        }
    }
}
