/** Characters a repository glob may hold: a registry host (with a port), repository path components, `*` and `?`. */
export const REPOSITORY_GLOB = /^[a-z0-9._\-:/*?]+$/;

/**
 * A repository glob as a regular expression over `host/repository`: `*` and `?` stay
 * within one path component, `**` crosses them (`docker.io/**` is all of Docker Hub).
 */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i] as string;
    if (char === '*' && glob[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (char === '*') {
      source += '[^/]*';
    } else if (char === '?') {
      source += '[^/]';
    } else {
      source += char.replace(/[.+^${}()|[\]\\-]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}
