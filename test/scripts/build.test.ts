/** scripts/build.mjs --if-changed: tsc runs when a source changed, and only then. */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../e2e/harness";

const SCRIPT = path.join(REPO_ROOT, "scripts/build.mjs");

function build(project: string, ...args: string[]): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, [SCRIPT, ...args], { cwd: project, encoding: "utf8" });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

function project(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-build-"));
  fs.writeFileSync(
    path.join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { outDir: "dist", rootDir: ".", module: "commonjs", target: "ES2022", strict: true, types: [] },
      include: ["src/**/*.ts", "test/**/*.ts"],
    }),
  );
  fs.writeFileSync(path.join(dir, ".gitignore"), "dist/\ntest/results/\n");
  fs.mkdirSync(path.join(dir, "src"));
  fs.mkdirSync(path.join(dir, "test/results"), { recursive: true });
  fs.writeFileSync(path.join(dir, "src/a.ts"), "export const a: number = 1;\n");
  fs.writeFileSync(path.join(dir, "test/a.test.ts"), 'import { a } from "../src/a";\nexport const b = a;\n');
  return dir;
}

// Each tsc run takes seconds on a busy machine, and these make a dozen.
describe("scripts/build.mjs --if-changed", { timeout: 240_000 }, () => {
  it("skips tsc on an unchanged tree and builds when a source is changed, added, removed or put back older", () => {
    const dir = project();
    const out = path.join(dir, "dist/src/a.js");
    expect(build(dir, "--if-changed").output).toContain("build: no build stamp: running tsc");
    expect(fs.readFileSync(out, "utf8")).toContain("exports.a = 1");
    const built = fs.statSync(out).mtimeMs;

    const unchanged = build(dir, "--if-changed");
    expect(unchanged.status).toBe(0);
    expect(unchanged.output).toMatch(/^build: up to date \(\d+ inputs unchanged since the last build\), tsc skipped/);
    expect(fs.statSync(out).mtimeMs).toBe(built);
    // What .gitignore names is not a source.
    fs.writeFileSync(path.join(dir, "test/results/run.json"), "{}");
    expect(build(dir, "--if-changed").output).toContain("tsc skipped");

    fs.writeFileSync(path.join(dir, "src/a.ts"), "export const a: number = 2;\n");
    expect(build(dir, "--if-changed").output).toContain(`build: ${path.join("src", "a.ts")} changed: running tsc`);
    expect(fs.readFileSync(out, "utf8")).toContain("exports.a = 2");

    fs.writeFileSync(path.join(dir, "src/b.ts"), "export const b = 1;\n");
    expect(build(dir, "--if-changed").output).toContain(`${path.join("src", "b.ts")} added`);
    fs.rmSync(path.join(dir, "src/b.ts"));
    expect(build(dir, "--if-changed").output).toContain(`${path.join("src", "b.ts")} removed`);

    // Content changed, mtime set back to before the build: ctime still tells.
    fs.writeFileSync(path.join(dir, "src/a.ts"), "export const a: number = 3;\n");
    fs.utimesSync(path.join(dir, "src/a.ts"), new Date(2020, 0, 1), new Date(2020, 0, 1));
    expect(build(dir, "--if-changed").output).toContain("changed: running tsc");
    expect(fs.readFileSync(out, "utf8")).toContain("exports.a = 3");

    fs.writeFileSync(path.join(dir, "tsconfig.json"), fs.readFileSync(path.join(dir, "tsconfig.json"), "utf8") + "\n");
    expect(build(dir, "--if-changed").output).toContain("tsconfig.json changed");

    fs.rmSync(out);
    expect(build(dir, "--if-changed").output).toContain(`${path.join("dist", "src", "a.js")} missing`);
    expect(fs.existsSync(out)).toBe(true);
    expect(build(dir, "--if-changed").output).toContain("tsc skipped");
  });

  it("fails as tsc fails, and builds again next time; without --if-changed it always builds", () => {
    const dir = project();
    fs.writeFileSync(path.join(dir, "src/a.ts"), "export const a: number = 'not a number';\n");
    const failed = build(dir, "--if-changed");
    expect(failed.status).not.toBe(0);
    expect(failed.output).toContain("TS2322");
    expect(build(dir, "--if-changed").output).toContain("no build stamp: running tsc");
    fs.writeFileSync(path.join(dir, "src/a.ts"), "export const a: number = 1;\n");
    expect(build(dir, "--if-changed").status).toBe(0);
    const always = build(dir);
    expect(always.status).toBe(0);
    expect(always.output).not.toContain("tsc skipped");
    expect(build(dir, "--if-changed").output).toContain("tsc skipped");
  });
});
