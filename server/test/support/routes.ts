import type { TestApp } from './app.ts';

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
  rawPath?: string;
}

function routesOf(stack: Layer[], prefix = ''): { method: string; path: string }[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      return Object.keys(layer.route.methods)
        .filter((m) => m !== '_all')
        .map((m) => ({ method: m.toUpperCase(), path: prefix + layer.route!.path }));
    }
    if (layer.handle.stack) return routesOf(layer.handle.stack, prefix + (layer.rawPath && layer.rawPath !== '/' ? layer.rawPath : ''));
    return [];
  });
}

/** Every method and path the Express app answers, read from its router stack (not from any list the app keeps). */
export const routerRoutes = (app: TestApp) => routesOf((app.app as unknown as { router: { stack: Layer[] } }).router.stack);
