import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { operationsDoc, renderConfigReference, withReference } from '../../../scripts/config-reference.ts';

describe('docs/operations.md', () => {
  it('holds the configuration reference that the code generates (npm run docs:config), every variable described', () => {
    const doc = readFileSync(operationsDoc, 'utf8');
    // renderConfigReference throws naming any variable the code reads without a description.
    expect(doc, 'run npm run docs:config').toBe(withReference(doc, renderConfigReference()));
  });

  it('lists every variable of every service config schema', () => {
    const table = renderConfigReference();
    for (const variable of ['DATABASE_URL', 'NATS_URL', 'IDENTITY_PORT', 'EDGE_PORT', 'LOG_LEVEL', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'DIGEST_HOUR_UTC']) {
      expect(table).toContain(`| \`${variable}\` |`);
    }
  });

  it('covers deploying, scaling, backups with a restore drill, dead letters and the runbook', () => {
    const doc = readFileSync(operationsDoc, 'utf8');
    for (const heading of ['## Deploying with skaffold', '### Development', '### Production', '## Scaling', '## Backups and restore drill', '## Dead letters', '## Runbook']) {
      expect(doc).toContain(heading);
    }
    for (const incident of ['DB connection spike', 'Consumer backlog', 'NATS down', 'Signing-key rotation', 'Revoking all sessions', 'Restoring']) {
      expect(doc).toContain(`**${incident}**`);
    }
  });
});
