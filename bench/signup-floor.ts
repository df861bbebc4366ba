/**
 * `node bench/signup-floor.ts`: the database part of a sign-up in isolation, one at a time on an
 * embedded PostgreSQL, CPU per call in this process (node) and in PostgreSQL's processes: the
 * sign-up's one statement (built and compiled, then run as auth.service.ts runs it), the six
 * statements it replaced (written here as plain SQL, so without the unit of work's own cost),
 * a bare INSERT in autocommit (the floor of any write), `select 1`, and the small steps in
 * between (pg-boss's statement captured, the access token signed). Not part of `npm run bench`.
 */
import { randomUUID } from 'node:crypto';
import { startDatabaseServer, cpuTicks, postgresPids, ticksBetween } from './support.ts';
import { initOrm } from '../server/src/db/orm.ts';
import { db, numbered } from '../server/src/db/kysely.ts';
import { loadConfig } from '../server/src/config.ts';
import { createLogger } from '../server/src/logger.ts';
import { createServices } from '../server/src/services.ts';
import { verificationMail } from '../server/src/modules/mail/messages.ts';
import { signAccessToken, secretKey, sha256, newRefreshToken } from '../server/src/modules/auth/tokens.ts';

const server = await startDatabaseServer();
const url = await server.freshDatabase();
const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: url, JWT_ACCESS_SECRET: 'x'.repeat(40), ALTCHA_HMAC_KEY: 'x'.repeat(40), LOG_LEVEL: 'silent' });
const orm = await initOrm(url, { pool: { min: 0, max: 4 }, logger: () => {} });
const services = createServices({ config, orm, logger: createLogger(config) });
await services.mailer.start({ work: false });
const N = Number(process.env.FLOOR_CALLS ?? 2000);
function measure(name: string, f: () => unknown) {
  for (let i = 0; i < 200; i++) f();
  const c = process.cpuUsage(); const t = performance.now();
  for (let i = 0; i < N; i++) f();
  const u = process.cpuUsage(c);
  console.log(name, ((u.user + u.system) / 1000 / N).toFixed(3), 'ms cpu', ((performance.now() - t) / N).toFixed(3), 'ms wall');
}
async function measureAsync(name: string, f: () => Promise<unknown>) {
  for (let i = 0; i < 100; i++) await f();
  const pg0 = cpuTicks(postgresPids());
  const c = process.cpuUsage(); const t = performance.now();
  for (let i = 0; i < N; i++) await f();
  const u = process.cpuUsage(c);
  const pg = ticksBetween(pg0, cpuTicks(postgresPids())) * 10 / N;
  console.log(name, ((u.user + u.system) / 1000 / N).toFixed(3), 'ms cpu node', pg.toFixed(3), 'ms cpu pg', ((performance.now() - t) / N).toFixed(3), 'ms wall');
}
const link = await services.verification.firstLink({ id: randomUUID(), email: 'a@b.c' });
const build = () => {
  const user = { id: randomUUID(), email: `u-${randomUUID()}@x.dev`, role: 'USER' as const, createdAt: new Date() };
  return db(orm.em.fork())
    .with('new_user', (q) => q.insertInto('user').values({ ...user, emailCanonical: user.email, passwordHash: 'h' }).returning('id'))
    .with('new_session', (q) => q.insertInto('session').values({ id: randomUUID(), user: user.id, refreshTokenHash: sha256(newRefreshToken()), family: randomUUID(), userAgent: null, createdAt: user.createdAt, expiresAt: new Date() }).returning('id'))
    .with('first_link', (q) => q.insertInto('email_token').values({ ...link.row, id: randomUUID(), user: user.id, tokenHash: sha256(newRefreshToken()) }).returning('id'))
    .with('mail_job', () => numbered<{ id: string }>(link.job.text, [randomUUID(), ...link.job.values.slice(1)]))
    .selectFrom('new_user').select('id');
};
measure('the sign-up statement, build and compile only', () => build().compile());
await measureAsync('firstLink (jobStatement capture)', () => services.verification.firstLink({ id: randomUUID(), email: 'a@b.c' }));
const key = secretKey('x'.repeat(40));
measure('jwt sign', () => signAccessToken(key, 900, { sub: randomUUID(), role: 'USER', sid: randomUUID() }, 1));
await measureAsync('the sign-up statement (compile, run)', async () => { const c = build().compile(); await orm.em.fork().getKysely().executeQuery(c); });
await orm.em.fork().execute('create table floor_t (id uuid primary key, v text)');
await measureAsync('a bare INSERT, autocommit', () => orm.em.fork().execute('insert into floor_t values (gen_random_uuid(), ?)', ['x']));
await measureAsync('before: begin, user, session, commit, link, job (six statements)', async () => {
  const em = orm.em.fork();
  const uid = randomUUID();
  await em.transactional(async (t) => {
    await t.execute('insert into "user" (id, email, email_canonical, password_hash, role, created_at) values (?, ?, ?, ?, ?, now())', [uid, `o-${uid}@x.dev`, `o-${uid}@x.dev`, 'h', 'USER']);
    await t.execute('insert into "session" (id, user_id, refresh_token_hash, family, created_at, expires_at) values (?, ?, ?, ?, now(), now())', [randomUUID(), uid, sha256(newRefreshToken()), randomUUID()]);
  });
  await orm.em.fork().execute('insert into email_token (id, user_id, purpose, token_hash, email, created_at, expires_at) values (?, ?, ?, ?, ?, now(), now())', [randomUUID(), uid, 'VERIFY_EMAIL', sha256(newRefreshToken()), 'a@b.c']);
  await services.mailer.send(`verify:${randomUUID()}`, verificationMail('a@b.c', 'http://localhost/verify-email?token=t'));
});
await measureAsync('select 1', () => orm.em.fork().execute('select 1'));
await services.mailer.stop();
await orm.close();
await server.stop();
