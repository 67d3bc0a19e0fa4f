// Reads the hub's JSON Schema on stdin and writes TypeScript interfaces on stdout (hub/contract.py runs it).
import { compile } from "json-schema-to-typescript";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const banner =
  "/* The telemetry hub's Socket.IO contract, generated from hub/messages.py by scripts/contract: do not edit. */";
process.stdout.write(
  await compile(JSON.parse(input), "HubContract", {
    bannerComment: banner,
    additionalProperties: false,
    unreachableDefinitions: true,
    style: { printWidth: 110 },
  }),
);
