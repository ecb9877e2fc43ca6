/**
 * HTTP trigger route templates as the Functions host reads them: literal segments, `{name}`,
 * optional `{name?}`, constraints `{id:guid}` / `{n:int}` / `{n:alpha}`, and catch-all `{*rest}`.
 */
export interface CompiledRoute {
  template: string;
  match(path: string): Record<string, string> | undefined;
}

const CONSTRAINTS: Record<string, RegExp> = {
  int: /^-?\d+$/,
  guid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
  alpha: /^[a-z]+$/i,
  bool: /^(true|false)$/i,
};

export function compileRoute(template: string): CompiledRoute {
  const parts = template.replace(/^\/+|\/+$/g, "").split("/").filter(Boolean);
  return {
    template,
    match(path: string) {
      const segments = path.replace(/^\/+|\/+$/g, "").split("/").filter(Boolean);
      const params: Record<string, string> = {};
      let index = 0;
      for (const part of parts) {
        const parameter = /^\{(\*)?([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?(\?)?\}$/.exec(part);
        if (!parameter) {
          if (segments[index]?.toLowerCase() !== part.toLowerCase()) return undefined;
          index++;
          continue;
        }
        const [, catchAll, name, constraint, optional] = parameter;
        if (catchAll) {
          params[name] = segments.slice(index).map(decodeURIComponent).join("/");
          index = segments.length;
          continue;
        }
        const segment = segments[index];
        if (segment === undefined) {
          if (optional) continue;
          return undefined;
        }
        const value = decodeURIComponent(segment);
        if (constraint && CONSTRAINTS[constraint] && !CONSTRAINTS[constraint].test(value)) return undefined;
        params[name] = value;
        index++;
      }
      return index === segments.length ? params : undefined;
    },
  };
}
