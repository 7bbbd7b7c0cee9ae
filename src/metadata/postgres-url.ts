/** The URL without its password, for logs and messages: a password never leaves the config. */
export function redactPostgresUrl(value: string): string {
  if (!URL.canParse(value)) return 'postgres://(an unparsable URL)';
  const url = new URL(value);
  if (url.password !== '') url.password = '***';
  // A password given as a query parameter (libpq allows it) goes too.
  if (url.searchParams.has('password')) url.searchParams.set('password', '***');
  return url.toString();
}
