// Validates Kubernetes objects against the API's own OpenAPI schemas (kubernetes-models), offline.
// stdin: a JSON array of objects; stdout: one line per object, "ok KIND NAME" or "error KIND NAME: why".
import { readFileSync } from "node:fs";

const objects = JSON.parse(readFileSync(0, "utf8"));
let failed = 0;
for (const object of objects) {
  const [group, version] = object.apiVersion.includes("/") ? object.apiVersion.split("/") : ["", object.apiVersion];
  const path = `kubernetes-models/${group ? `${group}/` : ""}${version}/${object.kind}`;
  const name = `${object.kind} ${object.metadata?.name ?? "?"}`;
  try {
    const module = await import(path);
    new module[object.kind](object).validate();
    console.log(`ok ${name}`);
  } catch (error) {
    failed += 1;
    console.log(`error ${name}: ${String(error.message ?? error).replace(/\s+/g, " ")}`);
  }
}
process.exit(failed ? 1 : 0);
