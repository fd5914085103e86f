import { seedDemo } from './demo-seed.ts';

/** `npm run seed [-- <base URL>]`: demo data against a running stack's REST edge (TASKMESH_BASE_URL or :8080). */
const baseUrl = process.argv[2] || process.env.TASKMESH_BASE_URL || 'http://127.0.0.1:8080';
try {
  const seed = await seedDemo({ baseUrl });
  const lines = [
    '',
    `Demo data is in ${baseUrl}`,
    `  Organization  ${seed.organization}`,
    ...seed.boards.map((b) => `  Board         ${b}`),
    '',
    '  Log-ins (password for all):',
    ...seed.logins.map((l) => `    ${l.role.padEnd(7)} ${l.email.padEnd(28)} ${l.password}   (${l.displayName})`),
    '',
    '  Try:',
    `    curl -s ${baseUrl}/v1/auth:logIn -H 'content-type: application/json' -d '{"email":"${seed.logins[0]!.email}","password":"${seed.logins[0]!.password}"}'`,
    `    curl -s -H "Authorization: Bearer <accessToken>" ${baseUrl}/v1/${seed.boards[0]}/tasks`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
} catch (err) {
  process.stderr.write(`seeding ${baseUrl} failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.stderr.write('Is the stack running (npm start)? Pass another base URL as the first argument.\n');
  process.exitCode = 1;
}
