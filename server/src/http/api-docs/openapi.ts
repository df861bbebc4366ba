import { z } from 'zod';
import { ERROR_STATUS, type ErrorCode } from '@dropspot/protocol';
import type { ApiRoute, ResponseDoc } from '../api-router.ts';
import { createSchemaConverter, type JsonSchema } from './json-schema.ts';

/** Express `/drops/:id/claim` → OpenAPI `/drops/{id}/claim`. */
export const openApiPath = (expressPath: string) => expressPath.replace(/:(\w+)/g, '{$1}');

const WRITES = new Set(['post', 'patch', 'delete']);
const AUTH_401: ErrorCode[] = ['UNAUTHENTICATED', 'TOKEN_EXPIRED', 'TOKEN_INVALID', 'SESSION_REVOKED'];

/** The codes a route can answer with: its own, plus those every route of its kind can. */
export function errorCodes(route: ApiRoute): ErrorCode[] {
  const codes = new Set<ErrorCode>(route.errors ?? []);
  codes.add('INTERNAL');
  if (route.path.startsWith('/api/')) {
    // Every /api request: the edge checks (a lone surrogate, a malformed Authorization header), and the database.
    for (const code of ['VALIDATION_FAILED', 'TOKEN_INVALID', 'SERVICE_UNAVAILABLE'] as const) codes.add(code);
    if (WRITES.has(route.method)) for (const code of ['INVALID_JSON', 'UNSUPPORTED_MEDIA_TYPE', 'PAYLOAD_TOO_LARGE', 'CSRF_REJECTED'] as const) codes.add(code);
  }
  if (route.access === 'metrics') codes.add('UNAUTHENTICATED');
  else if (route.access !== 'public') AUTH_401.forEach((code) => codes.add(code));
  if (route.access === 'admin' || route.access === 'stream') codes.add('FORBIDDEN');
  if (route.limited) codes.add('RATE_LIMITED');
  if (route.idempotent) for (const code of ['IDEMPOTENCY_KEY_IN_USE', 'IDEMPOTENCY_KEY_MISMATCH'] as const) codes.add(code);
  return [...codes].sort();
}

const SECURITY = {
  public: [{}],
  user: [{ bearer: [] }, { cookie: [] }],
  admin: [{ bearer: [] }, { cookie: [] }],
  stream: [{ bearer: [] }, { cookie: [] }, { apiToken: [] }],
  metrics: [{ metricsToken: [] }],
} as const;

export interface OpenApiInfo {
  version: string;
  description?: string;
}

/** The OpenAPI 3.1 document of the routes, generated from their declarations (`api-router.ts`). */
export function buildOpenApi(routes: readonly ApiRoute[], info: OpenApiInfo): Record<string, unknown> {
  const schemas = createSchemaConverter('#/components/schemas/');
  const paths: Record<string, Record<string, unknown>> = {};
  const operationIds = new Set<string>();

  for (const route of routes) {
    const path = openApiPath(route.path);
    const operationId = route.method + path.replace(/[{}.]/g, '').replace(/(^|[/_-])(\w)/g, (_m, _s, c: string) => c.toUpperCase());
    if (operationIds.has(operationId)) throw new Error(`two routes are ${route.method.toUpperCase()} ${route.path}`);
    operationIds.add(operationId);

    const parameters: Record<string, unknown>[] = [];
    for (const [, name] of route.path.matchAll(/:(\w+)/g)) {
      const schema = route.params?.[name!];
      parameters.push({ name, in: 'path', required: true, schema: schema ? schemas.convert(schema, 'input') : { type: 'string' } });
    }
    if (route.query) {
      const query = schemas.convert(route.query, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
      for (const [name, schema] of Object.entries(query.properties ?? {})) {
        const { description, ...rest } = schema;
        parameters.push({ name, in: 'query', required: query.required?.includes(name) ?? false, ...(description ? { description } : {}), schema: rest });
      }
    }
    if (route.idempotent) {
      parameters.push({
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description: 'The same key with the same request replays the first success (Idempotent-Replayed: true) for 24 hours.',
        schema: { type: 'string', minLength: 1, maxLength: 200, pattern: '^[\\x21-\\x7e]+$' },
      });
    }

    let requestBody: Record<string, unknown> | undefined;
    if (route.body) {
      const body = schemas.convert(route.body, 'input') as { properties?: Record<string, unknown>; required?: string[] };
      for (const field of route.bodyOmits ?? []) {
        delete body.properties?.[field];
        if (body.required) body.required = body.required.filter((name) => name !== field);
      }
      if (body.required?.length === 0) delete body.required;
      requestBody = { required: (body.required?.length ?? 0) > 0, content: { 'application/json': { schema: body } } };
    }

    const responses: Record<string, unknown> = {};
    for (const [status, answer] of Object.entries(route.responses)) responses[status] = successResponse(Number(status), answer, schemas.convert);
    const byStatus = new Map<number, ErrorCode[]>();
    for (const code of errorCodes(route)) byStatus.set(ERROR_STATUS[code], [...(byStatus.get(ERROR_STATUS[code]) ?? []), code]);
    for (const [status, codes] of byStatus) {
      if (responses[status]) continue;
      responses[status] = {
        description: codes.join(', '),
        ...(status === 429 || status === 503 ? { headers: { 'Retry-After': { description: 'seconds to wait', schema: { type: 'integer' } } } } : {}),
        content: {
          'application/problem+json': {
            schema: { allOf: [{ $ref: schemas.ref('Problem') }, { type: 'object', properties: { code: { type: 'string', enum: codes } } }] },
          },
        },
      };
    }

    paths[path] ??= {};
    paths[path][route.method] = {
      operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: [route.tag],
      security: route.access === 'public' && route.path.startsWith('/api/') ? [{}, { bearer: [] }, { cookie: [] }] : SECURITY[route.access],
      ...(parameters.length ? { parameters } : {}),
      ...(requestBody ? { requestBody } : {}),
      responses,
    };
  }

  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'DropSpot API',
      version: info.version,
      description:
        info.description ??
        'Limited-stock drops: waitlists, claim windows and single-use codes. Errors are application/problem+json with a stable `code`. Live events: the AsyncAPI document at /api/asyncapi.json.',
    },
    paths,
    components: {
      schemas: schemas.components(),
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'An access token from signup, login or refresh.' },
        cookie: { type: 'apiKey', in: 'cookie', name: 'ds_access', description: 'The HttpOnly cookie browsers get; changes must come from an allowed origin.' },
        apiToken: { type: 'http', scheme: 'bearer', description: 'An API token (dsk_…) for the event stream, live while its creator is an admin.' },
        metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN, for the Prometheus scraper.' },
      },
    },
  };
}

function successResponse(status: number, answer: z.ZodType | ResponseDoc | null, convert: (schema: z.ZodType, io: 'output') => JsonSchema) {
  if (answer === null) return { description: status === 204 ? 'Done; no body.' : 'No body.' };
  const doc: ResponseDoc = answer instanceof z.ZodType ? { schema: answer } : answer;
  const content: Record<string, unknown> = {};
  if (doc.schema) content[doc.contentType ?? 'application/json'] = { schema: convert(doc.schema, 'output') };
  else if (doc.contentType) content[doc.contentType] = {};
  for (const type of doc.alsoAs ?? []) content[type] = {};
  return { description: doc.description ?? 'OK', ...(Object.keys(content).length ? { content } : {}) };
}
