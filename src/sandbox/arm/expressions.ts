/**
 * ARM template expressions (`"[concat('a', parameters('b'))]"`), read the way ARM reads them, for
 * checking Shire's templates (test tooling: product code never loads src/sandbox): which
 * parameters and variables a template uses, and what a value becomes once evaluated with the
 * functions a caller supplies (a test's fake deployment: `reference()` answers what the test says
 * the resource's GET would, `listKeys()` a marker, never a key).
 *
 * Syntax (aka.ms/arm-template-expressions): a JSON string that starts with `[` and ends with `]` is
 * an expression, unless it starts with `[[` (a literal, read with one `[` less); inside, function calls, single-quoted
 * strings (`''` is a quote), integers, and property (`.name`) and index (`[expr]`) access.
 */

export type Expression =
  | { kind: "string"; value: string }
  | { kind: "number"; value: number }
  | { kind: "call"; name: string; args: Expression[] }
  | { kind: "property"; target: Expression; name: string }
  | { kind: "index"; target: Expression; index: Expression };

/** Is this JSON string an expression (and not an escaped literal)? */
export function isExpression(value: unknown): value is string {
  return typeof value === "string" && value.startsWith("[") && !value.startsWith("[[") && value.endsWith("]");
}

/** Parse the text of an expression string (with its brackets). Throws on anything ARM would refuse. */
export function parseExpression(text: string): Expression {
  if (!isExpression(text)) throw new SyntaxError(`Not an expression: ${text}`);
  const source = text.slice(1, -1);
  let at = 0;
  const fail = (message: string): never => {
    throw new SyntaxError(`${message} at ${at} in ${text}`);
  };
  const skip = () => {
    while (at < source.length && /\s/.test(source[at])) at++;
  };
  const expect = (char: string) => {
    skip();
    if (source[at] !== char) fail(`expected '${char}'`);
    at++;
  };
  const identifier = (): string => {
    skip();
    const match = /^[A-Za-z_][\w]*/.exec(source.slice(at));
    if (!match) return fail("expected a name");
    at += match[0].length;
    return match[0];
  };
  const primary = (): Expression => {
    skip();
    const char = source[at];
    if (char === "'") {
      let value = "";
      at++;
      for (;;) {
        if (at >= source.length) fail("unterminated string");
        if (source[at] === "'") {
          if (source[at + 1] === "'") {
            value += "'";
            at += 2;
            continue;
          }
          at++;
          break;
        }
        value += source[at++];
      }
      return { kind: "string", value };
    }
    const number = /^-?\d+/.exec(source.slice(at));
    if (number) {
      at += number[0].length;
      return { kind: "number", value: Number(number[0]) };
    }
    const name = identifier();
    expect("(");
    const args: Expression[] = [];
    skip();
    if (source[at] === ")") at++;
    else
      for (;;) {
        args.push(expression());
        skip();
        if (source[at] === ",") {
          at++;
          continue;
        }
        expect(")");
        break;
      }
    return { kind: "call", name, args };
  };
  const expression = (): Expression => {
    let node = primary();
    for (;;) {
      skip();
      if (source[at] === ".") {
        at++;
        node = { kind: "property", target: node, name: identifier() };
      } else if (source[at] === "[") {
        at++;
        const index = expression();
        expect("]");
        node = { kind: "index", target: node, index };
      } else return node;
    }
  };
  const parsed = expression();
  skip();
  if (at !== source.length) fail("unexpected text");
  return parsed;
}

/** Every function call in an expression, outermost first. */
export function calls(expression: Expression): { name: string; args: Expression[] }[] {
  switch (expression.kind) {
    case "call":
      return [{ name: expression.name, args: expression.args }, ...expression.args.flatMap(calls)];
    case "property":
      return calls(expression.target);
    case "index":
      return [...calls(expression.target), ...calls(expression.index)];
    default:
      return [];
  }
}

/** Every expression string in a JSON value, with its path (`resources[2].properties.x`). */
export function expressionsIn(value: unknown, path = ""): { path: string; text: string }[] {
  if (isExpression(value)) return [{ path, text: value }];
  if (Array.isArray(value)) return value.flatMap((item, index) => expressionsIn(item, `${path}[${index}]`));
  if (value && typeof value === "object")
    return Object.entries(value).flatMap(([key, item]) => expressionsIn(item, path ? `${path}.${key}` : key));
  return [];
}

/** The names a template's expressions pass to `parameters()` / `variables()` (literal arguments only). */
export function namesUsed(value: unknown, functionName: "parameters" | "variables"): Set<string> {
  const used = new Set<string>();
  for (const { text } of expressionsIn(value))
    for (const call of calls(parseExpression(text)))
      if (call.name.toLowerCase() === functionName && call.args[0]?.kind === "string") used.add(call.args[0].value);
  return used;
}

export type ArmFunction = (...args: unknown[]) => unknown;

/** Evaluate an expression with the functions a test supplies (names are case-insensitive, as in ARM). */
export function evaluate(expression: Expression, functions: Record<string, ArmFunction>): unknown {
  const byName = new Map(Object.entries(functions).map(([name, fn]) => [name.toLowerCase(), fn]));
  const run = (node: Expression): unknown => {
    switch (node.kind) {
      case "string":
      case "number":
        return node.value;
      case "call": {
        const fn = byName.get(node.name.toLowerCase());
        if (!fn) throw new Error(`The test's deployment has no function '${node.name}'.`);
        return fn(...node.args.map(run));
      }
      case "property": {
        const target = run(node.target);
        if (!target || typeof target !== "object" || !(node.name in target))
          throw new Error(`No property '${node.name}' in ${JSON.stringify(target)}.`);
        return (target as Record<string, unknown>)[node.name];
      }
      case "index": {
        const target = run(node.target) as Record<string | number, unknown> | undefined;
        const index = run(node.index) as string | number;
        if (!target || typeof target !== "object" || !(index in target))
          throw new Error(`No element ${JSON.stringify(index)} in ${JSON.stringify(target)}.`);
        return target[index];
      }
    }
  };
  return run(expression);
}

/** A JSON value with every expression evaluated and every escaped `[[...]` literal read back with one `[`. */
export function evaluateValue(value: unknown, functions: Record<string, ArmFunction>): unknown {
  if (isExpression(value)) return evaluate(parseExpression(value), functions);
  if (typeof value === "string" && value.startsWith("[[") && value.endsWith("]")) return value.slice(1);
  if (Array.isArray(value)) return value.map((item) => evaluateValue(item, functions));
  if (value && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, evaluateValue(item, functions)]));
  return value;
}

/** ARM's `format()`: `{0}` placeholders, `{{`/`}}` for literal braces. */
export function armFormat(template: unknown, ...args: unknown[]): string {
  return String(template).replace(/\{\{|\}\}|\{(\d+)\}/g, (match, index?: string) =>
    match === "{{" ? "{" : match === "}}" ? "}" : String(args[Number(index)]),
  );
}

/**
 * The literal shape of an expression: `format()` and `concat()` evaluated, `parameters()` and
 * `variables()` read as the literal default or value the template gives them, anything else (a
 * reference, a parameter without a literal default) as `abc`. A name like
 * `[format('{0}/appsettings', parameters('app'))]` becomes `abc/appsettings`: enough for the rules
 * a name's shape decides (its segments, which kind of config a Microsoft.Web/sites/config is).
 */
export function literalShape(
  text: string,
  known: { parameters?: Record<string, unknown>; variables?: Record<string, unknown> } = {},
  depth = 0,
): string {
  // A default or variable may itself be an expression: its shape, as far as it goes.
  const literal = (value: unknown) =>
    typeof value !== "string"
      ? "abc"
      : isExpression(value)
        ? depth < 8
          ? literalShape(value, known, depth + 1)
          : "abc"
        : value;
  const shape = (node: Expression): string => {
    if (node.kind === "string") return node.value;
    if (node.kind === "number") return String(node.value);
    if (node.kind !== "call") return "abc";
    const name = node.name.toLowerCase();
    if (name === "format") return armFormat(shape(node.args[0]), ...node.args.slice(1).map(shape));
    if (name === "concat") return node.args.map(shape).join("");
    const key = node.args[0]?.kind === "string" ? node.args[0].value : undefined;
    if (name === "parameters" && key)
      return literal((known.parameters?.[key] as { defaultValue?: unknown } | undefined)?.defaultValue);
    if (name === "variables" && key) return literal(known.variables?.[key]);
    return "abc";
  };
  return shape(parseExpression(text));
}
