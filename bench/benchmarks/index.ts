import { Benchmark } from "../lib/benchmark";
import { failover } from "./failover";
import { footprint } from "./footprint";
import { programScale } from "./program-scale";
import { testLoop } from "./test-loop";

/** In the order `npm run bench` runs them. */
export const BENCHMARKS: Benchmark[] = [programScale, testLoop, failover, footprint];
