import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { SecretScanner } from "../fixtures/secret-scan";

describe("SecretScanner", () => {
  it("finds each value, URL-encoded or JSON-escaped, anywhere in the bytes, and nothing else", () => {
    const values = ["abcdefgh12345678", "x+y/z==secretvalue", 'quote"inside-secret', "short"];
    const scanner = new SecretScanner(values);
    expect(scanner.size).toBe(3);
    const text = `{"a":"abcdefgh12345678"} url=/x?k=${encodeURIComponent("x+y/z==secretvalue")} ${JSON.stringify('quote"inside-secret')} short abcdefgh1234567`;
    expect(scanner.scan(Buffer.from(text)).sort()).toEqual([...values.slice(0, 3)].sort());
    expect(scanner.scan(Buffer.from("abcdefgh1234567 nothing here"))).toEqual([]);
    expect(scanner.scan(Buffer.from("abcdefgh12345678"))).toEqual(["abcdefgh12345678"]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scan-"));
    fs.mkdirSync(path.join(dir, "sub"));
    fs.writeFileSync(path.join(dir, "sub", "f.json"), `xx${values[0]}`);
    fs.writeFileSync(path.join(dir, "g"), "clean");
    const result = scanner.scanDir(dir);
    expect(result.files).toBe(2);
    expect(result.hits).toEqual([{ where: path.join(dir, "sub", "f.json"), secret: "abcd... (16 chars)" }]);
  });
});
