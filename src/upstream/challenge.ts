export interface Challenge {
  /** Lower-cased: 'bearer', 'basic', or another scheme we do not answer. */
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a WWW-Authenticate header (RFC 9110 §11.6.1) into its challenges.
 * Handles quoted strings with escapes and several challenges in one header.
 */
export function parseChallenges(header: string | undefined | null): Challenge[] {
  if (!header) return [];
  const challenges: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skip = (chars: string) => {
    while (i < n && chars.includes(header[i] as string)) i++;
  };
  const token = () => {
    const start = i;
    while (i < n && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(header[i] as string)) i++;
    return header.slice(start, i);
  };
  while (i < n) {
    skip(' ,');
    const scheme = token();
    if (!scheme) break;
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    for (;;) {
      skip(' ');
      const save = i;
      const key = token();
      skip(' ');
      if (!key || header[i] !== '=') {
        i = save; // a new challenge starts here (or a token68 we do not use)
        if (key && header[i] !== ',') token();
        break;
      }
      i++;
      skip(' ');
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++;
      } else {
        // Unquoted: leniently up to the next comma or space (some servers send bare URLs).
        const start = i;
        while (i < n && header[i] !== ',' && header[i] !== ' ') i++;
        value = header.slice(start, i);
      }
      challenge.params[key.toLowerCase()] = value;
      skip(' ');
      if (header[i] === ',') {
        i++;
        // Is the next item a param (key=) or a new challenge scheme?
        const look = i;
        skip(' ');
        token();
        skip(' ');
        const isParam = header[i] === '=';
        i = look;
        if (!isParam) break;
      } else {
        break;
      }
    }
  }
  return challenges;
}
