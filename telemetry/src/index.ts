// batchops telemetry Worker.
//
//   POST /batch-metrics        store one batch run (rows of batch_runs and recipe_results);
//                              the production contract, plus the Idempotency-Key header
//   GET  /batch-metrics/runs   read runs back for the SLO report (filters, cursor pagination)
//   GET  /health               "ok", no token
//
// Both /batch-metrics routes need `Authorization: Bearer <BATCH_METRICS_TOKEN>`.
// Errors are plain text ("Bad request: results[0].ecosystem is required"), and every
// response carries `Batchops-Idempotency: honored`. docs/telemetry.md is the reference.

// The few D1 types this file uses (no @cloudflare/workers-types needed to read or bundle it).
interface D1Result<T = Record<string, unknown>> {
  results: T[];
  meta: { last_row_id: number; changes: number };
}
interface D1PreparedStatement {
  bind(...values: unknown[]): D1PreparedStatement;
  all<T = Record<string, unknown>>(): Promise<D1Result<T>>;
  first<T = Record<string, unknown>>(): Promise<T | null>;
}
interface D1Database {
  prepare(sql: string): D1PreparedStatement;
  batch(statements: D1PreparedStatement[]): Promise<D1Result[]>;
}

export interface Env {
  BATCH_METRICS: D1Database;
  BATCH_METRICS_TOKEN?: string;
}

const MAX_BODY_BYTES = 1024 * 1024;
const MAX_KEY_LENGTH = 200;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 500;
// D1 binds at most 100 values per statement: 6 per recipe row, so 16 rows per INSERT.
const ROWS_PER_INSERT = 16;

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

const badRequest = (reason: string) => new HttpError(400, `Bad request: ${reason}`);

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { "Content-Type": "text/plain; charset=utf-8", ...headers } });
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

// --- auth ------------------------------------------------------------------------------

async function sha256(value: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value)));
}

/** Constant-time check of `Authorization: Bearer <token>`; no token configured refuses all. */
async function authorize(request: Request, env: Env): Promise<void> {
  const expected = env.BATCH_METRICS_TOKEN;
  const given = request.headers.get("Authorization");
  if (!expected || !given) throw new HttpError(401, "Unauthorized");
  const [a, b] = await Promise.all([sha256(given), sha256(`Bearer ${expected}`)]);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  if (diff !== 0) throw new HttpError(401, "Unauthorized");
}

// --- body ------------------------------------------------------------------------------

const tooLarge = () => new HttpError(413, `Payload too large: the body is limited to ${MAX_BODY_BYTES} bytes`);

async function readBody(request: Request): Promise<string> {
  const declared = request.headers.get("Content-Length");
  if (declared !== null && Number(declared) > MAX_BODY_BYTES) throw tooLarge();
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size <= MAX_BODY_BYTES) chunks.push(value);
  }
  // Read to the end even past the cap (keeping nothing), so the client, still sending,
  // gets the 413 instead of a reset connection.
  if (size > MAX_BODY_BYTES) throw tooLarge();
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(body);
}

/** The Idempotency-Key header: absent or blank means none; otherwise 1-200 printable ASCII. */
function idempotencyKey(request: Request): string | null {
  const raw = request.headers.get("Idempotency-Key");
  if (raw === null || raw.trim() === "") return null;
  const key = raw.trim();
  if (key.length > MAX_KEY_LENGTH || !/^[\x21-\x7e]+$/.test(key)) {
    throw badRequest(`Idempotency-Key must be 1 to ${MAX_KEY_LENGTH} printable ASCII characters without spaces (e.g. a sha256 hex digest)`);
  }
  return key;
}

// --- validation ------------------------------------------------------------------------

type Json = Record<string, unknown>;

interface RunRow {
  batch_id: string;
  ecosystem: string;
  started_at: string;
  completed_at: unknown;
  total_recipes: number;
  passed: unknown;
  failed: unknown;
  skipped: unknown;
  success_rate: unknown;
  macos_minutes: unknown;
  linux_minutes: unknown;
}

interface ResultRow {
  recipe_name: unknown;
  ecosystem: unknown;
  result: unknown;
  error_category: unknown;
  error_message: unknown;
  duration_seconds: unknown;
}

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);

/** What D1 can bind, as production binds it: a JSON object or array is refused here. */
function scalar(value: unknown, field: string, kind: "number" | "string"): unknown {
  if (typeof value === "object" && value !== null) throw badRequest(`${field} must be a ${kind}`);
  return value;
}

/** A counter: absent or null is 0 (the column's default; production answers 500). */
const counter = (value: unknown, field: string) => (value === undefined || value === null ? 0 : scalar(value, field, "number"));
/** Minutes and durations: anything falsy is 0, as in production. */
const amount = (value: unknown, field: string) => scalar(value, field, "number") || 0;
/** Optional text: anything falsy is NULL, as in production. */
const optionalText = (value: unknown, field: string) => scalar(value, field, "string") || null;

/**
 * The production worker's rules and messages, in its order (batch_id, ecosystem,
 * started_at non-empty strings; total_recipes a number; results an array; each result
 * with a truthy recipe_name, ecosystem and result), and its way of storing what passes.
 * Beyond that, only refusals with a reason where production would answer 500: a body
 * or result that is not an object, a value D1 cannot bind, a missing counter (stored 0).
 */
function validate(payload: unknown): { run: RunRow; results: ResultRow[] } {
  if (!isObject(payload)) throw badRequest("the body must be a JSON object");
  for (const field of ["batch_id", "ecosystem", "started_at"]) {
    const value = payload[field];
    if (!value || typeof value !== "string") throw badRequest(`${field} is required`);
  }
  if (typeof payload.total_recipes !== "number") throw badRequest("total_recipes is required");
  if (!Array.isArray(payload.results)) throw badRequest("results array is required");
  const items = payload.results as unknown[];
  items.forEach((item, i) => {
    if (!isObject(item)) throw badRequest(`results[${i}] must be an object`);
    for (const field of ["recipe_name", "ecosystem", "result"]) {
      if (!item[field]) throw badRequest(`results[${i}].${field} is required`);
    }
  });
  const run: RunRow = {
    batch_id: payload.batch_id as string,
    ecosystem: payload.ecosystem as string,
    started_at: payload.started_at as string,
    completed_at: optionalText(payload.completed_at, "completed_at"),
    total_recipes: payload.total_recipes,
    passed: counter(payload.passed, "passed"),
    failed: counter(payload.failed, "failed"),
    skipped: counter(payload.skipped, "skipped"),
    success_rate: counter(payload.success_rate, "success_rate"),
    macos_minutes: amount(payload.macos_minutes, "macos_minutes"),
    linux_minutes: amount(payload.linux_minutes, "linux_minutes"),
  };
  const results = items.map((raw, i) => {
    const item = raw as Json;
    return {
      recipe_name: scalar(item.recipe_name, `results[${i}].recipe_name`, "string"),
      ecosystem: scalar(item.ecosystem, `results[${i}].ecosystem`, "string"),
      result: scalar(item.result, `results[${i}].result`, "string"),
      error_category: optionalText(item.error_category, `results[${i}].error_category`),
      error_message: optionalText(item.error_message, `results[${i}].error_message`),
      duration_seconds: amount(item.duration_seconds, `results[${i}].duration_seconds`),
    };
  });
  return { run, results };
}

// --- POST /batch-metrics ---------------------------------------------------------------

function isUniqueViolation(error: unknown): boolean {
  const message = error instanceof Error ? `${error.message} ${String((error as { cause?: unknown }).cause ?? "")}` : String(error);
  return /UNIQUE constraint failed/i.test(message);
}

async function postBatchMetrics(request: Request, env: Env): Promise<Response> {
  await authorize(request, env);
  const key = idempotencyKey(request);
  const body = await readBody(request);
  let payload: unknown;
  try {
    payload = JSON.parse(body);
  } catch {
    throw badRequest("invalid JSON");
  }
  const { run, results } = validate(payload);

  const db = env.BATCH_METRICS;
  // One batch is one transaction: the run and all its results, or nothing. A second
  // post of the same key fails on the unique index and rolls back whole, even when
  // both posts arrive at once. Inside the transaction the run just inserted is the
  // newest row of batch_runs (AUTOINCREMENT ids only grow), hence MAX(id).
  const statements = [
    db
      .prepare(
        `INSERT INTO batch_runs (batch_id, ecosystem, started_at, completed_at, total_recipes, passed, failed,
           skipped, success_rate, macos_minutes, linux_minutes, idempotency_key)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(
        run.batch_id, run.ecosystem, run.started_at, run.completed_at, run.total_recipes, run.passed,
        run.failed, run.skipped, run.success_rate, run.macos_minutes, run.linux_minutes, key,
      ),
  ];
  for (let start = 0; start < results.length; start += ROWS_PER_INSERT) {
    const chunk = results.slice(start, start + ROWS_PER_INSERT);
    const rows = chunk.map(() => "((SELECT MAX(id) FROM batch_runs), ?, ?, ?, ?, ?, ?)").join(", ");
    const values = chunk.flatMap((r) => [r.recipe_name, r.ecosystem, r.result, r.error_category, r.error_message, r.duration_seconds]);
    statements.push(
      db
        .prepare(
          `INSERT INTO recipe_results (batch_run_id, recipe_name, ecosystem, result, error_category, error_message,
             duration_seconds) VALUES ${rows}`,
        )
        .bind(...values),
    );
  }

  try {
    const [inserted] = await db.batch(statements);
    const id = inserted.meta.last_row_id;
    return json(201, { id, batch_run_id: id, idempotency_key: key, duplicate: false });
  } catch (error) {
    if (key === null || !isUniqueViolation(error)) throw error;
  }
  const first = await db.prepare("SELECT id FROM batch_runs WHERE idempotency_key = ?").bind(key).first<{ id: number }>();
  if (!first) throw new HttpError(500, "Internal error: the run of this Idempotency-Key could not be read back");
  return json(200, { id: first.id, batch_run_id: first.id, idempotency_key: key, duplicate: true });
}

// --- GET /batch-metrics/runs -----------------------------------------------------------

// The sort key: started_at as UTC with milliseconds (what Date.toISOString prints), or the
// raw text when SQLite cannot read it as a time.
const START_KEY = "COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', started_at), started_at)";
const ISO_TIME = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$/;

function timeParam(url: URL, name: string): string | null {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return null;
  const millis = ISO_TIME.test(raw) ? Date.parse(raw.replace(" ", "T")) : NaN;
  if (Number.isNaN(millis)) throw badRequest(`${name} must be an ISO 8601 time (e.g. 2026-06-01T00:00:00Z)`);
  return new Date(millis).toISOString();
}

function limitParam(url: URL): number {
  const raw = url.searchParams.get("limit");
  if (raw === null || raw === "") return DEFAULT_LIMIT;
  const limit = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(limit >= 1 && limit <= MAX_LIMIT)) throw badRequest(`limit must be an integer from 1 to ${MAX_LIMIT} (e.g. 100)`);
  return limit;
}

function encodeCursor(startKey: string, id: number): string {
  return btoa(JSON.stringify([startKey, id])).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeCursor(raw: string): [string, number] {
  try {
    const value = JSON.parse(atob(raw.replace(/-/g, "+").replace(/_/g, "/")));
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === "string" && Number.isInteger(value[1])) {
      return [value[0], value[1]];
    }
  } catch {
    // fall through
  }
  throw badRequest("cursor is not one this endpoint returned (pass next_cursor from the previous page unchanged)");
}

interface RunRecord extends RunRow {
  id: number;
  start_key: string;
  results?: unknown[];
}

async function listRuns(request: Request, env: Env): Promise<Response> {
  await authorize(request, env);
  const url = new URL(request.url);
  const since = timeParam(url, "since");
  const until = timeParam(url, "until");
  const limit = limitParam(url);
  const ecosystem = url.searchParams.get("ecosystem");
  const cursor = url.searchParams.get("cursor");

  const where: string[] = [];
  const values: unknown[] = [];
  if (since !== null) {
    where.push(`${START_KEY} >= ?`);
    values.push(since);
  }
  if (until !== null) {
    where.push(`${START_KEY} < ?`);
    values.push(until);
  }
  if (ecosystem) {
    where.push("ecosystem = ?");
    values.push(ecosystem);
  }
  if (cursor) {
    const [startKey, id] = decodeCursor(cursor);
    where.push(`(${START_KEY} > ? OR (${START_KEY} = ? AND id > ?))`);
    values.push(startKey, startKey, id);
  }
  const db = env.BATCH_METRICS;
  const page = await db
    .prepare(
      `SELECT id, batch_id, ecosystem, started_at, completed_at, total_recipes, passed, failed, skipped,
         success_rate, macos_minutes, linux_minutes, ${START_KEY} AS start_key
       FROM batch_runs ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY start_key, id LIMIT ?`,
    )
    .bind(...values, limit + 1)
    .all<RunRecord>();
  const runs = page.results.slice(0, limit);
  const more = page.results.length > limit;

  const byRun = new Map<number, unknown[]>();
  for (const run of runs) byRun.set(run.id, []);
  if (runs.length) {
    const rows = await db
      .prepare(
        `SELECT batch_run_id, recipe_name, ecosystem, result, error_category, error_message, duration_seconds
         FROM recipe_results WHERE batch_run_id IN (SELECT value FROM json_each(?)) ORDER BY id`,
      )
      .bind(JSON.stringify(runs.map((run) => run.id)))
      .all<Json & { batch_run_id: number }>();
    for (const { batch_run_id, ...result } of rows.results) byRun.get(batch_run_id)?.push(result);
  }
  const last = runs[runs.length - 1];
  return json(200, {
    runs: runs.map(({ start_key, ...run }) => ({ ...run, results: byRun.get(run.id) ?? [] })),
    next_cursor: more && last ? encodeCursor(last.start_key, last.id) : null,
  });
}

// --- routing ---------------------------------------------------------------------------

type Handler = (request: Request, env: Env) => Promise<Response>;

const ROUTES: Record<string, Record<string, Handler>> = {
  "/batch-metrics": { POST: postBatchMetrics },
  "/batch-metrics/runs": { GET: listRuns },
  "/health": { GET: async () => text(200, "ok") },
};

async function route(request: Request, env: Env): Promise<Response> {
  const { pathname } = new URL(request.url);
  const methods = ROUTES[pathname];
  if (!methods) return text(404, "Not found");
  const handler = methods[request.method];
  if (!handler) {
    const allow = Object.keys(methods).join(", ");
    return text(405, `Method not allowed: use ${allow}`, { Allow: allow });
  }
  return handler(request, env);
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    let response: Response;
    try {
      response = await route(request, env);
    } catch (error) {
      if (error instanceof HttpError) {
        response = text(error.status, error.message, error.headers);
      } else {
        console.error("batch-metrics: unexpected error", error);
        response = text(500, "Internal error: the run was not stored; retry later");
      }
    }
    const headers = new Headers(response.headers);
    headers.set("Batchops-Idempotency", "honored");
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  },
};
