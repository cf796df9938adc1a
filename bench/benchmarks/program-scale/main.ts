// Entry point of the Pulumi program `pulumi preview` runs in the program-scale benchmark.
import * as pulumi from "@pulumi/pulumi";
import { declareWorkloads, ProgramVariant } from "./workloads";

const config = new pulumi.Config();
declareWorkloads(config.require("variant") as ProgramVariant, config.requireNumber("count"), config.require("namespace"));
