import type { AuthResponse, ErrorCode, ErrorIssue, Problem } from '@dropspot/protocol';

/** A failed API call, carrying the problem+json the server sent (or a synthesized one). */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  readonly code: ErrorCode | 'NETWORK';
  readonly issues: ErrorIssue[];
  readonly retryAfter: number | undefined;
  /** Extension members of the problem (e.g. `usedAt` of ALREADY_REDEEMED). */
  readonly extra: Record<string, unknown>;
  constructor(problem: Pick<Problem, 'status' | 'detail' | 'issues'> & { code: ErrorCode | 'NETWORK'; [key: string]: unknown }, retryAfter?: number) {
    super(problem.detail);
    this.extra = problem;
    this.status = problem.status;
    this.code = problem.code;
    this.issues = problem.issues ?? [];
    this.retryAfter = retryAfter;
  }
  /** The message for one form field, from the problem's issues. */
  field(name: string): string | undefined {
    return this.issues.find((issue) => issue.path === name)?.message;
  }
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  body?: unknown;
  idempotencyKey?: string;
  /** SvelteKit's `fetch` in load functions; the browser's otherwise. */
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

const SIGNED_IN_HINT = 'dropspot:signed-in';
const ACCESS_EXPIRES = 'dropspot:access-expires';
/** Refusals that a renewed session may turn into a success. */
export const REFRESHABLE: ReadonlySet<string> = new Set(['TOKEN_EXPIRED', 'UNAUTHENTICATED', 'SESSION_REVOKED']);

function browser(): boolean {
  return typeof window !== 'undefined';
}

/** The access token of this page's last refresh, with when it runs out (kept in memory only). */
let access: { token: string; expires: number } | undefined;

/**
 * The session cookies are httpOnly, so the page keeps a hint that a session may exist and when its
 * access token runs out (the cookie goes with it): a socket that reconnects after that renews first.
 */
export function setSignedInHint(signedIn: boolean, expiresInSeconds?: number): void {
  if (!browser()) return;
  // Signed in or out some other way than this page's refresh: `access` may be another session's token.
  access = undefined;
  if (signedIn) {
    localStorage.setItem(SIGNED_IN_HINT, '1');
    if (expiresInSeconds !== undefined) localStorage.setItem(ACCESS_EXPIRES, String(Date.now() + expiresInSeconds * 1000));
  } else {
    localStorage.removeItem(SIGNED_IN_HINT);
    localStorage.removeItem(ACCESS_EXPIRES);
  }
}
export function hasSignedInHint(): boolean {
  return browser() && localStorage.getItem(SIGNED_IN_HINT) === '1';
}
/** True when the page believes it is signed in but its access token has expired (or soon will). */
export function accessTokenStale(): boolean {
  if (!hasSignedInHint()) return false;
  // Unknown (a page rendered signed in by the server): the cookie was good then, and the server
  // says `session:expired` when it runs out.
  const expires = Number(localStorage.getItem(ACCESS_EXPIRES));
  return Number.isFinite(expires) && expires > 0 && Date.now() > expires - 10_000;
}

/**
 * The access token this page refreshed last, while it has more than ten seconds to live. A
 * socket namespace joining an open connection sends it: that connection's cookie header is the
 * one from when it opened, and may have expired since.
 */
export function currentAccessToken(): string | undefined {
  return access && Date.now() < access.expires - 10_000 ? access.token : undefined;
}

async function send(path: string, options: RequestOptions): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;
  try {
    return await (options.fetch ?? fetch)(path, {
      method: options.method ?? 'GET',
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: 'same-origin',
      signal: options.signal,
    });
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiError({ status: 0, code: 'NETWORK', detail: 'Cannot reach DropSpot. Check your connection and try again.' });
  }
}

/** The problem+json of a failed response as an ApiError (a synthesized one when the body is not a problem). */
export async function failure(response: Response): Promise<ApiError> {
  const retryAfter = Number(response.headers.get('retry-after')) || undefined;
  try {
    const problem = (await response.json()) as Problem;
    if (problem && typeof problem.code === 'string') return new ApiError(problem, retryAfter);
  } catch {
    // not problem+json (a proxy's error page, say)
  }
  return new ApiError({ status: response.status, code: response.status >= 500 ? 'INTERNAL' : 'NOT_FOUND', detail: `The server answered ${response.status}.` }, retryAfter);
}

let refreshing: Promise<AuthResponse | null> | undefined;

/**
 * Swaps the refresh cookie for a new session: the new session, or null when the server refused
 * (the session is over). A network failure or a busy server throws instead: that says nothing
 * about the session, so nobody is signed out for it.
 *
 * The server treats a refresh token used twice as stolen and ends the whole session family, so
 * refreshes are serialised: within this page by sharing one promise, and across tabs with a Web
 * Lock (the second tab then finds its cookie already rotated and refreshes with the new one).
 */
export function refreshSession(): Promise<AuthResponse | null> {
  refreshing ??= (async () => {
    const run = async () => {
      const response = await send('/api/auth/refresh', { method: 'POST', body: {} });
      if (response.status === 401) {
        setSignedInHint(false);
        return null;
      }
      if (!response.ok) throw await failure(response);
      const session = (await response.json()) as AuthResponse;
      setSignedInHint(true, session.expiresIn);
      access = { token: session.accessToken, expires: Date.now() + session.expiresIn * 1000 };
      return session;
    };
    try {
      return browser() && 'locks' in navigator ? await navigator.locks.request('dropspot-refresh', run) : await run();
    } finally {
      refreshing = undefined;
    }
  })();
  return refreshing;
}

/** Calls the API; in the browser an expired session is refreshed once and the call repeated. */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  let response = await send(path, options);
  if (response.status === 401 && browser() && !path.startsWith('/api/auth/')) {
    const error = await failure(response);
    if (!REFRESHABLE.has(error.code) || !(await refreshSession().catch(() => null))) throw error;
    response = await send(path, options);
  }
  if (!response.ok) throw await failure(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/** A message fit to show a person, for any error. */
export function describe(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  return 'Something went wrong. Please try again.';
}
