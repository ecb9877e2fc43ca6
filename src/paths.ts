/** Files the app ships beside its code (infra/ templates): found from sources and from dist/ alike. */
import fs from "node:fs";
import path from "node:path";

/** Path of a file under the repository root, walking up from this module (src/ or dist/src/). */
export function findRepoFile(...parts: string[]): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, ...parts)) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return path.join(dir, ...parts);
}
