/**
 * The server's layers only point down: `modules/` (the domain) knows nothing of its transports,
 * `http/` and `realtime/` bind the domain to HTTP and Socket.IO, `app.ts` composes them. Type-only
 * imports count too, so a cycle cannot hide behind `import type`. Run by `npm run check`.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'Two modules that import each other cannot be understood, tested or replaced alone.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'domain-is-transport-free',
      severity: 'error',
      comment: 'The domain (modules/, domain/, db/) never imports a transport: HTTP and sockets call it, not the other way round.',
      from: { path: '^server/src/(modules|domain|db)/' },
      to: { path: '^server/src/(http|realtime)/' },
    },
    {
      name: 'domain-does-not-compose',
      severity: 'error',
      comment: 'Only the entry points (app.ts, main.ts, cli/) see the whole application.',
      from: { path: '^server/src/(modules|domain|db|http|realtime)/' },
      to: { path: '^server/src/(app|main)\\.ts$' },
    },
    {
      name: 'client-is-not-server',
      severity: 'error',
      comment: 'The web client talks to the server over HTTP and sockets, and shares only protocol/.',
      from: { path: '^client/' },
      to: { path: '^server/' },
    },
    {
      name: 'protocol-stands-alone',
      severity: 'error',
      comment: 'protocol/ is shared by client and server, so it depends on neither.',
      from: { path: '^protocol/' },
      to: { path: '^(server|client)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|\\.svelte-kit|build)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
