/**
 * A hardware (or softdog) watchdog as a last resort: the agent pets /dev/watchdog while it is
 * healthy, holding back in an outage, or fenced for sure; when its fence deadline passes without a
 * confirmed fence, or the agent itself hangs or dies, the petting stops and the machine resets
 * after the device's timeout. Untested on hardware here (this machine has no watchdog device);
 * unit-tested against a plain file.
 */
import * as fs from "fs";
import * as path from "path";

export interface WatchdogIo {
    openSync(p: string, flags: string): number;
    writeSync(fd: number, data: string): number;
    closeSync(fd: number): void;
    readFileSync(p: string, enc: "utf8"): string;
}

export class Watchdog {
    private fd?: number;
    /** Writes done, for metrics and tests. */
    pets = 0;

    constructor(
        readonly device: string,
        private readonly io: WatchdogIo = fs,
    ) {}

    /** Opening starts the countdown on most drivers: pet at once and then often. */
    open(): void {
        if (this.fd !== undefined) return;
        this.fd = this.io.openSync(this.device, "w");
    }

    get isOpen(): boolean {
        return this.fd !== undefined;
    }

    pet(): void {
        if (this.fd === undefined) return;
        this.io.writeSync(this.fd, "\0");
        this.pets++;
    }

    /** The "magic close": writing V before closing stops the countdown (clean shutdown only). */
    disarm(): void {
        if (this.fd === undefined) return;
        try {
            this.io.writeSync(this.fd, "V");
        } finally {
            this.io.closeSync(this.fd);
            this.fd = undefined;
        }
    }

    /** The device's timeout from sysfs (/sys/class/watchdog/<dev>/timeout), if readable. */
    timeoutSeconds(sysClass = "/sys/class/watchdog"): number | undefined {
        try {
            const v = Number(this.io.readFileSync(path.join(sysClass, path.basename(this.device), "timeout"), "utf8").trim());
            return Number.isInteger(v) && v > 0 ? v : undefined;
        } catch {
            return undefined;
        }
    }
}
