import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { ApiResponse } from './app.ts';

type Doc = Record<string, any>;

/** JSON Pointer for one key. */
const escape = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * Validates real answers against the served OpenAPI document: the operation for the method and
 * path, a documented status, a documented media type, and the body against that media type's
 * JSON Schema (ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses). Answers' object schemas forbid
 * undocumented fields, so a field added to a view and not to its schema fails here.
 */
export function openApiChecker(doc: Doc) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema(doc, 'openapi');
  const templates = Object.keys(doc.paths as object).map((template) => ({
    template,
    pattern: new RegExp(`^${template.replace(/[.]/g, '\\.').replace(/\{\w+\}/g, '[^/]+')}$`),
  }));
  const covered = new Set<string>();

  function check(method: string, url: string, res: ApiResponse): string[] {
    const path = new URL(url, 'http://x').pathname;
    const found = templates.filter((t) => t.pattern.test(path));
    // A literal path wins over a template (e.g. /audit.csv over nothing; /drops over /drops/{id}).
    const match = found.find((t) => !t.template.includes('{')) ?? found[0];
    if (!match) return [`${method} ${path}: no such path in the document`];
    const op = doc.paths[match.template][method.toLowerCase()];
    if (!op) return [`${method} ${match.template}: no such operation in the document`];
    covered.add(`${method.toUpperCase()} ${match.template}`);
    const response = op.responses[String(res.status)];
    if (!response) return [`${method} ${match.template}: status ${res.status} is not documented (${Object.keys(op.responses).join(', ')}); body ${JSON.stringify(res.body).slice(0, 300)}`];
    const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    if (!response.content) return type && res.status !== 304 && res.body !== undefined ? [`${method} ${match.template} ${res.status}: documented without a body, got ${type}`] : [];
    const media = response.content[type];
    if (!media) return [`${method} ${match.template} ${res.status}: ${type} is not documented (${Object.keys(response.content).join(', ')})`];
    if (!media.schema) return [];
    const pointer = ['paths', match.template, method.toLowerCase(), 'responses', String(res.status), 'content', type, 'schema'].map(escape).join('/');
    const validate = ajv.getSchema(`openapi#/${pointer}`) ?? ajv.compile({ $ref: `openapi#/${pointer}` });
    if (validate(res.body)) return [];
    return (validate.errors ?? []).map((e) => `${method} ${match.template} ${res.status}: ${e.instancePath || '(body)'} ${e.message} ${JSON.stringify(e.params)}`);
  }

  return { check, covered };
}

/** Validates a value against a schema inside a document (e.g. an AsyncAPI message payload). */
export function schemaAt(doc: Doc, id: string) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema(doc, id);
  return (pointer: string[], value: unknown): string[] => {
    const validate = ajv.compile({ $ref: `${id}#/${pointer.map(escape).join('/')}` });
    return validate(value) ? [] : (validate.errors ?? []).map((e) => `${pointer.join('/')}: ${e.instancePath || '(value)'} ${e.message} ${JSON.stringify(e.params)}`);
  };
}
