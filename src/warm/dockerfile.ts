/** A parent image named in a Dockerfile's FROM line. */
export interface ParentImage {
  image: string;
  platform: string | undefined;
}

/**
 * The parent images a Dockerfile builds on: every FROM, with `ARG` defaults substituted
 * (global ARGs before the first FROM; `--build-arg` values override them, defaults may
 * refer to earlier ARGs), `--platform=` kept, and stage names and `scratch`
 * skipped. Line continuations and comments are handled as BuildKit does.
 */
export function parentImages(dockerfile: string, buildArgs: ReadonlyMap<string, string> = new Map()): ParentImage[] {
  const args = new Map<string, string>();
  const stages = new Set<string>();
  const parents: ParentImage[] = [];
  let seenFrom = false;
  for (const line of logicalLines(dockerfile)) {
    const match = /^(\w+)\s+(.*)$/s.exec(line);
    if (!match) continue;
    const instruction = (match[1] as string).toUpperCase();
    const rest = (match[2] as string).trim();
    if (instruction === 'ARG' && !seenFrom) {
      for (const decl of splitWords(rest)) {
        const eq = decl.indexOf('=');
        const name = eq >= 0 ? decl.slice(0, eq) : decl;
        // --build-arg wins over a declared ARG's default; a default may name earlier ARGs, as Docker expands it.
        const given = buildArgs.get(name);
        if (given !== undefined) args.set(name, given);
        else if (eq >= 0) args.set(name, substitute(unquote(decl.slice(eq + 1)), args));
        else if (!args.has(name)) args.set(name, '');
      }
    }
    if (instruction !== 'FROM') continue;
    seenFrom = true;
    const words = splitWords(rest);
    let platform: string | undefined;
    while (words[0]?.startsWith('--')) {
      const flag = words.shift() as string;
      const p = /^--platform=(.*)$/.exec(flag);
      if (p) platform = substitute(unquote(p[1] as string), args) || undefined;
    }
    const image = substitute(unquote(words[0] ?? ''), args);
    const isStage = stages.has(image.toLowerCase()); // FROM build: an earlier stage, not an image
    const alias = words[1]?.toLowerCase() === 'as' ? words[2]?.toLowerCase() : undefined;
    if (alias) stages.add(alias);
    if (!image || image.toLowerCase() === 'scratch' || isStage) continue;
    if (platform !== undefined && platform.includes('$')) platform = undefined; // BUILDPLATFORM and friends: the host's
    parents.push({ image, platform });
  }
  return parents;
}

/** Joins `\` continuations and drops comments and blank lines. */
function logicalLines(text: string): string[] {
  const lines: string[] = [];
  let current = '';
  for (const raw of text.split(/\r?\n/)) {
    const trimmed = raw.trim();
    if (trimmed.startsWith('#')) continue; // also a comment line inside a continuation
    if (trimmed.endsWith('\\')) {
      current += `${trimmed.slice(0, -1)} `;
      continue;
    }
    current += trimmed;
    if (current.trim()) lines.push(current.trim());
    current = '';
  }
  if (current.trim()) lines.push(current.trim());
  return lines;
}

function splitWords(text: string): string[] {
  return text.match(/(?:[^\s"']+|"[^"]*"|'[^']*')+/g) ?? [];
}

function unquote(value: string): string {
  return value.replace(/^"(.*)"$/s, '$1').replace(/^'(.*)'$/s, '$1');
}

/** $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:+alt}. */
function substitute(value: string, args: Map<string, string>): string {
  return value.replace(/\$\{(\w+)(?:(:?[-+])([^}]*))?\}|\$(\w+)/g, (_all, braced?: string, op?: string, word?: string, bare?: string) => {
    const name = (braced ?? bare) as string;
    const set = args.has(name);
    const current = args.get(name) ?? '';
    if (op === ':-') return current !== '' ? current : (word ?? '');
    if (op === '-') return set ? current : (word ?? '');
    if (op === ':+') return current !== '' ? (word ?? '') : '';
    if (op === '+') return set ? (word ?? '') : '';
    return current;
  });
}
