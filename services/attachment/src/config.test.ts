import { describe, expect, it } from 'vitest';
import { ConfigError } from '@taskmesh/runtime/config';
import { loadAttachmentConfig } from './config.ts';

const REQUIRED = { IDENTITY_ADDR: 'a:1', ORG_ADDR: 'a:2', TASK_ADDR: 'a:3', BOARD_ADDR: 'a:4', AUDIT_ADDR: 'a:5' };

describe('attachment configuration', () => {
  it('keeps pending attachments 24 hours and reaps every 10 minutes unless told', () => {
    const config = loadAttachmentConfig(REQUIRED);
    expect([config.ATTACHMENT_PENDING_TTL_HOURS, config.ATTACHMENT_REAP_INTERVAL_SECONDS]).toEqual([24, 600]);
    expect(loadAttachmentConfig({ ...REQUIRED, ATTACHMENT_PENDING_TTL_HOURS: '0.5' }).ATTACHMENT_PENDING_TTL_HOURS).toBe(0.5);
  });

  it('refuses a pending TTL that does not exceed the 15-minute upload URL, naming the variable', () => {
    for (const value of ['0.25', '0.1', '0', '-3', 'soon']) {
      let error: unknown;
      try {
        loadAttachmentConfig({ ...REQUIRED, ATTACHMENT_PENDING_TTL_HOURS: value });
      } catch (err) {
        error = err;
      }
      expect(error, value).toBeInstanceOf(ConfigError);
      expect((error as Error).message, value).toContain('ATTACHMENT_PENDING_TTL_HOURS');
    }
    expect(() => loadAttachmentConfig({ ...REQUIRED, ATTACHMENT_PENDING_TTL_HOURS: '0.2' })).toThrow(/upload URL's validity of 15 minutes/);
  });
});
