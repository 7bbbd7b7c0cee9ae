import type { Authentication, Authenticator } from './authenticator.js';
import type { AccessRules } from './rules.js';
import type { AccessTarget, Principal } from './types.js';

/** Client auth as the HTTP edge uses it: who is asking, and may they read this repository. */
export class ClientAuth {
  /** The realm of the Basic challenge (`WWW-Authenticate: Basic realm="..."`). */
  readonly realm: string;
  readonly #authenticator: Authenticator;
  readonly #rules: AccessRules;

  constructor(authenticator: Authenticator, rules: AccessRules, realm: string) {
    this.#authenticator = authenticator;
    this.#rules = rules;
    this.realm = realm;
  }

  authenticate(authorization: string | undefined, address: string): Promise<Authentication> {
    return this.#authenticator.authenticate(authorization, address);
  }

  canRead(principal: Principal, target: AccessTarget): boolean {
    return this.#rules.canRead(principal, target);
  }
}
