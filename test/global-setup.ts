/**
 * Vitest global setup: the suite must leave no Azurite or host process behind. Every process the
 * run starts inherits a marker in its environment; at the end, any Azurite or host (`cli.js
 * start`) still carrying it is killed and the run fails, naming them. Processes of other runs on
 * the same machine carry another marker and are left alone. Linux only (/proc); elsewhere it
 * only says it did not check.
 */
import fs from "node:fs";

const MARKER = "SHIRE_TEST_RUN";
/** Time for an Azurite whose host was killed at the very end to close and exit. */
const GRACE_MS = 15_000;

interface Leftover {
  pid: number;
  command: string;
}

function leftovers(run: string): Leftover[] {
  const found: Leftover[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
      if (!environ.includes(`${MARKER}=${run}`)) continue;
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2)[0] === "Z") continue; // exited, not yet reaped
      const args = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
      const isAzurite = args.some((arg) => arg.endsWith("azurite/dist/src/azurite.js"));
      const isHost = args.some((arg) => arg.endsWith("runtime/cli.js")) && args.includes("start");
      if (isAzurite || isHost)
        found.push({
          pid,
          command: (isAzurite
            ? ["azurite", ...args.slice(args.indexOf("--location"), args.indexOf("--location") + 2)]
            : args
          ).join(" "),
        });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

export default function setup(): () => Promise<void> {
  const run = `${process.pid}-${Date.now()}`;
  // Workers are started after this, and the hosts and Azurites they start inherit it.
  process.env[MARKER] = run;
  return async () => {
    if (!fs.existsSync("/proc/self/environ")) {
      console.warn("global-setup: no /proc here, so leftover Azurite/host processes were not checked.");
      return;
    }
    const deadline = Date.now() + GRACE_MS;
    let left = leftovers(run);
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      left = leftovers(run);
    }
    if (left.length === 0) return;
    for (const { pid } of left) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    // A teardown that throws is only logged by vitest ("error during close"): fail the run itself.
    console.error(
      `global-setup: the tests left ${left.length} Azurite/host process(es) running (killed now):\n  ${left.map(({ pid, command }) => `${pid} ${command}`).join("\n  ")}`,
    );
    process.exitCode = 1;
  };
}
