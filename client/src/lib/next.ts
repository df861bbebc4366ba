/**
 * Where to go after signing in: only a path on this site. Absolute and protocol-relative URLs,
 * and anything the URL parser turns into one (tabs, backslashes, `/.//host`), lead home instead.
 */
export function safeNext(url: Pick<URL, 'origin'> & { searchParams: Pick<URLSearchParams, 'get'> }): string {
  const target = new URL(url.searchParams.get('next') ?? '/', url.origin);
  if (target.origin !== url.origin || target.pathname.startsWith('//')) return '/';
  return `${target.pathname}${target.search}`;
}
