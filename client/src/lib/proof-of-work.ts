let loaded: Promise<void> | undefined;

/**
 * Loads the ALTCHA widget in the browser, once. The `external` build injects no inline style and
 * starts no worker from a blob: URL, so it runs under the page's strict CSP: its stylesheet and
 * its PBKDF2 worker are files Vite emits on our origin.
 */
export function loadAltcha(): Promise<void> {
  loaded ??= (async () => {
    await import('altcha/external');
    await import('altcha/altcha.css');
    const { default: Pbkdf2Worker } = await import('altcha/workers/pbkdf2?worker');
    // The server's challenges use PBKDF2/SHA-256 (server/src/modules/pow/pow.service.ts).
    $altcha.algorithms.set('PBKDF2/SHA-256', () => new Pbkdf2Worker());
  })();
  return loaded;
}
