import { globToRegExp } from './glob.js';
import { ANONYMOUS, AUTHENTICATED, qualifiedName, type AccessTarget, type Principal } from './types.js';

/** Principals who may read the repositories matching any of the globs. */
export interface ReadRule {
  principals: readonly string[];
  repositories: readonly string[];
}

interface CompiledRule {
  principals: ReadonlySet<string>;
  repositories: RegExp[];
}

/**
 * Read rules: a principal may read a target when some rule names it (by name,
 * `authenticated` for anyone who logged in, `anonymous` for anyone who did not) and
 * one of that rule's globs matches `upstream/repository`. Allow rules only, so their
 * order never matters. A private upstream is never readable anonymously.
 */
export class AccessRules {
  readonly #rules: CompiledRule[];

  constructor(rules: readonly ReadRule[]) {
    this.#rules = rules.map((rule) => ({ principals: new Set(rule.principals), repositories: rule.repositories.map(globToRegExp) }));
  }

  canRead(principal: Principal, target: AccessTarget): boolean {
    if (!principal.authenticated && target.private) return false;
    const name = qualifiedName(target);
    return this.#rules.some((rule) => namesPrincipal(rule.principals, principal) && rule.repositories.some((glob) => glob.test(name)));
  }
}

function namesPrincipal(principals: ReadonlySet<string>, principal: Principal): boolean {
  if (!principal.authenticated) return principals.has(ANONYMOUS);
  return principals.has(AUTHENTICATED) || principals.has(principal.name);
}
